"""Safety netting: measured on the held-out half of the corpus, and the parts that make it up."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from careprep.safety import (
    SEVERITY,
    Concern,
    Level,
    combine,
    detect,
    detect_all,
    detector,
    from_parse_data,
    intent_for,
    level_of_intent,
    loaded_once,
    to_parse_data,
    trained_classifier,
    versions,
)
from careprep.safety.corpus import Half, examples, half_of, legacy_examples, written_examples
from careprep.safety.evaluate import TARGET, Report, by_file, evaluate, floor, table
from careprep.safety.evaluate import main as evaluate_main

ROOT = Path(__file__).resolve().parents[1]
LEGACY_TRIGGERS = [
    (Level(example.level), example.text) for example in legacy_examples() if example.is_red_flag
]


def test_the_corpus_is_big_enough_and_covers_every_level_in_both_halves() -> None:
    written = written_examples()
    assert sum(example.is_red_flag for example in written) >= 400
    assert sum(not example.is_red_flag for example in written) >= 400
    for half in (Half.DEVELOPMENT, Half.HELD_OUT):
        levels = Counter(example.level for example in examples(half))
        for level in SEVERITY:
            assert levels[level.value] >= 50, (half, level, levels)
        assert levels["none"] >= 200, (half, levels)


def test_a_blind_batch_waiting_unseen_is_in_neither_half_and_its_misses_are_not_listed() -> None:
    unseen = {example.text for example in examples(Half.UNSEEN)}
    split = {example.text for example in written_examples() + legacy_examples()}
    assert not unseen & split, "a batch in corpus/unseen/ must not be read or trained on yet"
    with pytest.raises(SystemExit):
        evaluate_main(["--unseen", "--misses"])


def test_the_split_is_fixed_by_the_seed_and_the_halves_do_not_overlap() -> None:
    development = {example.text for example in examples(Half.DEVELOPMENT)}
    held_out = {example.text for example in examples(Half.HELD_OUT)}
    legacy = {example.text for example in legacy_examples()}
    assert not development & held_out
    assert legacy and legacy <= development
    assert all(half_of(text) is Half.HELD_OUT for text in held_out)
    share = len(held_out) / len(written_examples())
    assert 0.4 < share < 0.6


@pytest.fixture(scope="module")
def held_out() -> Report:
    report = evaluate(Half.HELD_OUT)
    print("\n" + table(report))
    return report


def test_each_file_of_the_held_out_half_is_counted_once(held_out: Report) -> None:
    files = held_out.files.values()
    assert sum(counts["red_flags"] for counts in files) == sum(held_out.red_flags.values())
    assert sum(counts["caught"] for counts in files) == sum(held_out.caught.values())
    assert sum(counts["everyday"] for counts in files) == held_out.everyday
    assert sum(counts["alarms"] for counts in files) == held_out.false_alarms
    listing = by_file(held_out)
    assert "batch6_everyday_answers" in listing and "alarms" in listing and "caught" in listing


def test_held_out_recall_and_false_alarms_hold_the_floor(held_out: Report) -> None:
    assert held_out.meets(floor()), table(held_out)


@pytest.mark.xfail(
    strict=True,
    reason="issue 8 is open: held-out recall is below 99 % per level (docs/clinical-safety.md);"
    " when this passes, remove the mark and raise floor.yml to the target",
)
def test_held_out_recall_per_level_and_false_alarms_meet_the_target(held_out: Report) -> None:
    assert held_out.meets(TARGET), table(held_out)


def test_the_floor_is_never_above_the_target() -> None:
    held = floor()
    assert all(held.recall[level] <= TARGET.recall[level] for level in held.recall)
    assert held.false_alarm_rate >= TARGET.false_alarm_rate


def test_the_version_1_phrases_of_every_level_version_1_had_are_checked() -> None:
    levels = Counter(level for level, _ in LEGACY_TRIGGERS)
    assert set(levels) == {Level.EMERGENCY, Level.URGENT, Level.MENTAL_HEALTH}, levels
    assert min(levels.values()) >= 50, levels


@pytest.mark.parametrize(
    ("level", "text"), LEGACY_TRIGGERS, ids=[text[:40] for _, text in LEGACY_TRIGGERS]
)
def test_the_version_1_phrases_still_raise_their_level(level: Level, text: str) -> None:
    found = {concern.level for concern in detector().detect_all(text)}
    assert level in found or (level is Level.URGENT and Level.EMERGENCY in found), (text, found)


@pytest.mark.parametrize(
    "text",
    [
        "I'm dying to see my grandchildren",
        "my chest of drawers",
        "the pain of filling in forms",
        "I want to stop feeling tired",
        "no chest pain since the new tablets",
        "I'm not suicidal, just fed up",
        "I had a fall two years ago",
        "had a stroke in 2019 and I'm walking well now",
        "In 2019, I had a stroke and was in hospital for weeks",
        "what should I do if my sugar goes low when I'm out?",
        "I keep fit by swimming twice a week",
        "no chest pain since the stent",
        "banged my head in 2020 while i was on warfarin, got checked at A&E, all clear",
        "angina diagnosed 2014, havent needed the GTN spray in over a year",
        "Had cellulitis in my leg two summers ago.",
        "what are the signs of sepsis?",
        "I take 20 mg of citalopram",
        "the vet says he'll be fine",
        "I double check my pills every morning",
        "choking for a fag after the appointment",
        "my uncle died of a stroke so I check my blood pressure",
        # A carer's everyday answer at a review (rules v4 read "ill" as ill-treating):
        "My husband has been ill so I have been caring for him",
        "Mum has been ill all winter",
    ],
)
def test_everyday_words_do_not_trip_it(text: str) -> None:
    assert detect(text) is None


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("my husband collapsed an hour ago", Level.EMERGENCY),
        ("my husband ill-treats me", Level.SAFEGUARDING),
        ("she was ill treated by her son", Level.SAFEGUARDING),
        ("had a fit at lunchtime", Level.EMERGENCY),
        ("I think he's had a stroke", Level.EMERGENCY),
        ("chesst pian since last night", Level.EMERGENCY),
        ("he's unconsious on the floor", Level.EMERGENCY),
        ("she's having a siezure", Level.EMERGENCY),
        ("My family, but some days I think about ending my life", Level.MENTAL_HEALTH),
        ("my partner hit me again last night and I'm scared to go home", Level.SAFEGUARDING),
        ("blood in my wee since Tuesday", Level.URGENT),
        # an old date does not hide what is happening now ("the same", "this week",
        # "it's back" end its reach), and a dropped g is read before "being sick" is
        (
            "had a heart attack 2 years ago and the same crushing pain in my chest this week",
            Level.EMERGENCY,
        ),
        ("used to self harm as a teenager and its back, cut myself yesterday", Level.MENTAL_HEALTH),
        ("been bein sick all day and cant keep fluids down", Level.URGENT),
        # "can't be doing with" is having had enough, not a negation
        ("I can't be doing with this life any more", Level.MENTAL_HEALTH),
        # the lookup table's "putting" is golf's "putt"
        ("I found her partner putting extra sleeping tablets in her tea", Level.SAFEGUARDING),
        # an amount of money is not a year ("in 2019" dates a finding, "2000 pounds" does not)
        ("the carer got mum to lend her 2000 pounds and now she wants more", Level.SAFEGUARDING),
        ("the carer got mum to lend her \u00a32000 and now she wants more", Level.SAFEGUARDING),
    ],
)
def test_recent_misspelt_and_third_person_concerns_are_found(text: str, level: Level) -> None:
    assert level in {concern.level for concern in detector().detect_all(text)}, text


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("worried about him, he collapsed", Level.EMERGENCY),
        ("had a fit on Tuesday", Level.EMERGENCY),
        ("he's showing signs of a stroke, his face has dropped", Level.EMERGENCY),
        ("not well: sick loads of blood after brekkie", Level.EMERGENCY),
        ("my left hand wont work n my mouth feels droopy", Level.EMERGENCY),
        ("right now i dont, im scared of my husband", Level.SAFEGUARDING),
        ("whats not - i want to be dead most days", Level.MENTAL_HEALTH),
        ("not sure if he's had a stroke, his speech is slurred", Level.EMERGENCY),
        ("he's hit me since 2019", Level.SAFEGUARDING),
        # an ellipsis, however written, ends a sentence (a date reached over it)
        ("Had a fall last year... now he's collapsed and won't wake up", Level.EMERGENCY),
        ("had a fall last year\u2026now he's collapsed and won't wake up", Level.EMERGENCY),
        ("no chest pain.. but I can't breathe and my lips are blue", Level.EMERGENCY),
    ],
)
def test_a_negation_question_or_date_does_not_reach_past_its_clause(
    text: str, level: Level
) -> None:
    assert level in {concern.level for concern in detector().detect_all(text)}, text


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("my dad conked out on the kitchen floor", Level.EMERGENCY),
        ("she's suddenly gone really confused, was fine this morning", Level.EMERGENCY),
        ("on chemo and my temp is 38.4", Level.EMERGENCY),
        ("he swallowed 30 of his sertraline", Level.EMERGENCY),
        ("tearing pain in my back, came on suddenly", Level.EMERGENCY),
        ("the gas fire's been on and we've both got headaches and feel woozy", Level.EMERGENCY),
        ("ran out of my lantus and the chemist is shut", Level.URGENT),
        ("the red patch has spread past the pen line", Level.URGENT),
        ("water infection, stinging and going every 20 mins", Level.URGENT),
        ("my partner gave me a right hiding last night", Level.SAFEGUARDING),
        ("mum's morphine keeps going missing", Level.SAFEGUARDING),
        ("they are going to marry her off", Level.SAFEGUARDING),
        ("she says she hates being alive", Level.MENTAL_HEALTH),
        ("I've finished my note", Level.MENTAL_HEALTH),
    ],
)
def test_concepts_said_in_other_words_are_found(text: str, level: Level) -> None:
    assert level in {concern.level for concern in detector().detect_all(text)}, text


def test_everyday_words_in_a_gap_do_not_drop_a_finding() -> None:
    found = {c.level for c in detector().detect_all("gunk off my chest is dark green now")}
    assert Level.URGENT in found


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # rules round 7: a stranger in a drama, a question about where a warning sign
        # starts, hay fever
        ("saw on Holby last night a woman collapsed in the car park", None),
        ("watching eastenders and someone got stabbed, made me jump", None),
        ("how much weight gain should worry me with heart failure, is 2kg a week too much?", None),
        ("my hay fever tablets make me drowsy, is there another one?", None),
        ("can I take paracetamol with all my other tablets?", None),
        # a month ago is not long over
        ("a hard lump in my breast that was not there a month ago, now painful", Level.URGENT),
        ("started the new tablets a month ago and now a sore throat and high temp", Level.URGENT),
        # the same words, happening to someone the writer knows, today; a count taken
        ("he was watching the telly when he collapsed", Level.EMERGENCY),
        ("wife was watching Casualty, now she can't lift her arm, face dropped", Level.EMERGENCY),
        ("can i take ibuprofen with my other tablets? ive already taken 40", Level.EMERGENCY),
        ("already had about 30 of the co-codamol", Level.EMERGENCY),
        ("I used to cut myself and I've started again this week", Level.MENTAL_HEALTH),
        # rules round 8: concepts the rules lacked (a leaking aneurysm, a limb in plaster
        # losing its blood supply, a bowel bleed, cord compression, insulin omitted to lose
        # weight, injuries kept off a care record, a hidden tracker)
        ("sudden pain in my tummy going through to my back, he has an aneurysm", Level.EMERGENCY),
        ("her arm is in plaster and the fingers have gone white and numb", Level.EMERGENCY),
        ("the toilet is full of blood after I opened my bowels", Level.EMERGENCY),
        ("her breast cancer has spread to her spine, now her legs feel weak", Level.EMERGENCY),
        ("sugars high all day and the corrections are doing nothing", Level.URGENT),
        ("I have been skipping my insulin to lose weight", Level.MENTAL_HEALTH),
        ("the staff told me not to write down the bruises", Level.SAFEGUARDING),
        ("found an airtag taped under my car seat, I think it's my ex", Level.SAFEGUARDING),
        # and the same words that are not red flags
        ("I used to have high sugars all day but they have settled since the new insulin", None),
        ("how much insulin would I need for the long flight?", None),
        # rules round 9: opioid toxicity, priapism, bile in a baby's vomit, a bruised baby,
        # a child sedated with an adult's medicine, courier fraud, opioid withdrawal,
        # photophobia, wavy lines (wet AMD), affairs in order beside a cancelled review
        (
            "took two of my morphine patches by mistake and now I can't keep my eyes open",
            Level.EMERGENCY,
        ),
        ("his erection has lasted four hours and won't go down", Level.EMERGENCY),
        ("the baby keeps being sick and it's bright green", Level.EMERGENCY),
        ("my 6 week old has a bruise on his cheek and I don't know how", Level.SAFEGUARDING),
        ("my uncle gives my little sister his diazepam so she sleeps", Level.SAFEGUARDING),
        (
            "a man who said he was from the bank came round and took my card and pin",
            Level.SAFEGUARDING,
        ),
        (
            "ran out of my tramadol three days ago, sweating and shaking and can't sleep",
            Level.URGENT,
        ),
        ("my eye is really sore and I can't stand the light", Level.URGENT),
        ("straight lines on the door frame look wavy in my left eye", Level.URGENT),
        (
            "I've made my will and my sister is having the cat, so I won't need the appointment",
            Level.MENTAL_HEALTH,
        ),
        # help refused after a red flag, or a sign someone was told to watch for that has
        # come, is still a red flag (two cues of round 9 hid these and were taken out)
        (
            "the nurse said to watch for a rash that doesn't fade and now there is one on his leg",
            Level.EMERGENCY,
        ),
        (
            "Dad has crushing chest pain but he said no to everything, won't let me call anyone",
            Level.EMERGENCY,
        ),
        ("she collapsed an hour ago and she said no to all of it", Level.EMERGENCY),
        (
            "he hit me again last night and I said no to everything the police asked",
            Level.SAFEGUARDING,
        ),
        # and their everyday twins: a story on screen (one shared cue since round 9),
        # idioms, advice on what to watch for
        ("we watched a film last night where a man collapsed in a shop", None),
        ("it was on the news about a lad who got stabbed in Leeds, awful", None),
        ("the bike's engine seized on the way home so I walked", None),
        ("this tax return is making my head explode", None),
        ("can you remind me which signs to watch out for with my sugars?", None),
        ("had my HRT patch changed to a higher dose", None),
        ("I can't keep my eyes open after a night shift", None),
    ],
)
def test_rules_rounds_7_to_9_find_their_red_flags_and_leave_their_everyday_twins_alone(
    text: str, level: Level | None
) -> None:
    found = {concern.level for concern in detector().detect_all(text)}
    assert (level in found) if level else not found, (text, found)


def assert_signposts(text: str, level: Level | None) -> None:
    """Assert the rules give a red flag its level (999 does for urgent), everyday messages none."""
    found = {concern.level for concern in detector().detect_all(text)}
    if level is Level.URGENT:
        assert found & {Level.URGENT, Level.EMERGENCY}, (text, found)
    else:
        assert (level in found) if level else not found, (text, found)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # shared cues (round 10's review): "now" ends a date, telling someone is a
        # disclosure, a call for help is no hypothetical, not knowing why is no negation
        ("Had sepsis in 2020 and now she's mottled and breathing really fast", Level.EMERGENCY),
        ("How do I tell someone my stepdad hits me", Level.SAFEGUARDING),
        ("what should I do he's collapsed and not breathing", Level.EMERGENCY),
        ("In case it matters he's been hitting me again", Level.SAFEGUARDING),
        ("I have no idea why he collapsed", Level.EMERGENCY),
        ("No one knows he hits me", Level.SAFEGUARDING),
        ("Never had chest pain like this crushing and going into my jaw", Level.EMERGENCY),
        ("I want to die for real this time", Level.MENTAL_HEALTH),
        ("He started hitting me two years ago", Level.SAFEGUARDING),
        ("Got knocked out during the league match, still drowsy and vomiting", Level.EMERGENCY),
        # an everyday exclusion of the round ("been like that for years") reached 20 words
        # back over these, and was taken out on review
        (
            "he collapsed and is not breathing. his cough has been like that for years",
            Level.EMERGENCY,
        ),
        (
            "crushing chest pain, been like this for a few years on and off but never this bad",
            Level.EMERGENCY,
        ),
        # threats that begin with "if"; a tube that has fallen out; a Scots negation
        ("if I say anything he locks me in the bedroom", Level.SAFEGUARDING),
        ("if I ring the police he'll smash my phone like he did before", Level.SAFEGUARDING),
        ("his feeding tube has fallen out", Level.URGENT),
        ("my catheter fell out", Level.URGENT),
        ("he cannae breathe", Level.EMERGENCY),
        # suicidal intent said sideways
        ("yes, I have thought about how", Level.MENTAL_HEALTH),
        ("I've thought about taking us both", Level.MENTAL_HEALTH),
        ("I tied something round my neck", Level.MENTAL_HEALTH),
        ("used the hair straighteners on my arm on purpose", Level.MENTAL_HEALTH),
        # and everyday twins of each
        ("How do you tell if a rash is meningitis?", None),
        ("What should I do if he collapses again", None),
        ("I can't live without my inhaler", None),
        ("I've never had suicidal thoughts, nothing like that", None),
        ("this cake is to die for", None),
        ("I could murder a cuppa", None),
        ("gutted we got knocked out the cup again", None),
        ("I overdosed on the Christmas chocolates", None),
        ("I don't know why people self harm", None),
        ("if I tell someone about my fits at work will I lose my job?", None),
        ("if you tell someone you're suicidal do they section you?", None),
        ("if I tell the nurse about my chest pain will she send me to hospital?", None),
        ("if I leave him alone for five minutes he tries to get up and falls", None),
        ("we've fallen out over money and she won't visit", None),
        ("I fell out of love with running after my knee op", None),
        ("I've worked out how to use the new spacer", None),
        ("I burnt my hand on the oven by accident", None),
    ],
)
def test_rules_round_10_finds_its_red_flags_and_leaves_their_everyday_twins_alone(
    text: str, level: Level | None
) -> None:
    assert_signposts(text, level)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # red flags told before an everyday reassurance about something else: the
        # reassurance's exclusion reached 20-25 words back and dropped them (5 of these
        # fail on the rules before round 11)
        (
            "he's collapsed and isn't breathing, the nurse at his review said all his tests"
            " were fine",
            Level.EMERGENCY,
        ),
        (
            "she took the whole box of paracetamol an hour ago, I rang about my knee scan on"
            " Tuesday and it was all clear",
            Level.EMERGENCY,
        ),
        (
            "her temperature is 39.5 and she's confused and being sick, my own cough feels"
            " much better now",
            Level.EMERGENCY,
        ),
        (
            "I've run out of my Parkinson's tablets and the chemist can't get them till"
            " Monday, the rash from the new cream cleared up after the steroid cream",
            Level.URGENT,
        ),
        (
            "my ankle is swollen twice the size and I can't put weight on it after the fall"
            " on warfarin, my headache has settled and I feel fine now",
            Level.URGENT,
        ),
        (
            "he keeps threatening to kill me if I leave and he took my phone off me, my"
            " sister sorts my tablets with my full permission",
            Level.SAFEGUARDING,
        ),
        (
            "mum's face has dropped on one side and she can't lift her arm, the physio was"
            " here this morning and said she's getting better every day",
            Level.EMERGENCY,
        ),
        (
            "my catheter hasn't drained anything since this morning and my tummy is swollen"
            " and sore, the nosebleed I had yesterday stopped after ten minutes with pinching",
            Level.URGENT,
        ),
        # the reassurance told right after what it explains stays everyday
        ("had a bit of chest pain last week, all tests fine", None),
        ("the nosebleed stopped after five minutes with pinching", None),
        ("the cut on my thumb healed up nicely", None),
        ("my son sorts my bank card, I asked him to.", None),
    ],
)
def test_an_everyday_reassurance_does_not_hide_a_red_flag_told_before_it(
    text: str, level: Level | None
) -> None:
    assert_signposts(text, level)


def test_a_pattern_writer_is_shown_the_rules_behind_a_finding_and_what_context_did() -> None:
    kept = detector().explain("my husband collapsed an hour ago")
    assert kept and all(line.startswith("emergency: ") for line in kept), kept
    assert not any("dropped by ConText" in line for line in kept), kept
    dropped = detector().explain("he had a fit in 2019")
    assert dropped and all(line.endswith("(dropped by ConText)") for line in dropped), dropped
    assert detector().explain("I passed my driving test") == []


def test_every_concern_in_one_message_is_found_most_urgent_first() -> None:
    found = [
        concern.level
        for concern in detector().detect_all(
            "I took all my tablets an hour ago because I want to die"
        )
    ]
    assert found[0] is Level.EMERGENCY
    assert Level.MENTAL_HEALTH in found


def test_the_classifier_may_add_a_level_but_never_lowers_or_removes_one() -> None:
    urgent = [Concern(Level.URGENT, "fever")]
    raised = combine(urgent, Level.EMERGENCY, "text")
    assert [concern.level for concern in raised] == [Level.EMERGENCY, Level.URGENT]
    assert raised[0].source == "classifier"
    emergency = [Concern(Level.EMERGENCY, "collapsed")]
    assert combine(emergency, Level.URGENT, "text") == emergency, "999 already covers 111"
    assert combine(emergency, Level.EMERGENCY, "text") == emergency
    assert combine(emergency, None, "text") == emergency
    assert [c.level for c in combine([], Level.MENTAL_HEALTH, "t")] == [Level.MENTAL_HEALTH]


def test_a_less_urgent_guess_is_added_after_what_the_rules_found() -> None:
    # "Took the tablets": the rules' 999 stays first; the classifier's Samaritans follows.
    emergency = [Concern(Level.EMERGENCY, "took the tablets")]
    both = combine(emergency, Level.MENTAL_HEALTH, "text")
    assert [c.level for c in both] == [Level.EMERGENCY, Level.MENTAL_HEALTH]
    assert both[0] == emergency[0]
    # A disclosure of abuse beside low mood: the rules' mental-health finding stays first.
    mood = [Concern(Level.MENTAL_HEALTH, "no way out")]
    assert [c.level for c in combine(mood, Level.SAFEGUARDING, "t")] == [
        Level.MENTAL_HEALTH,
        Level.SAFEGUARDING,
    ]


def test_a_concern_carries_the_versions_of_the_nets_from_the_nlu_to_the_actions() -> None:
    found = detect_all("I took all my tablets an hour ago because I want to die")
    assert found and all(concern.versions == versions() for concern in found)
    text = "the whole message"
    carried = [from_parse_data(to_parse_data(concern), text) for concern in found]
    assert carried == found
    assert [concern.versions for concern in carried if concern] == [versions()] * len(found)
    # A Rasa server from before the versions were carried: the action's own are used.
    older = from_parse_data({"level": "urgent"}, text)
    assert older == Concern(Level.URGENT, text, "rules") and older.versions is None
    assert from_parse_data({"level": "worried"}, text) is None


def test_the_nets_load_once_however_many_turns_ask_for_them_at_once() -> None:
    # Four turns reaching a new action server together once loaded the nets four times over
    # in one process, which took a minute; the others must wait for the one load.
    calls: list[int] = []
    started = threading.Event()

    @loaded_once
    def slow() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return len(calls)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: slow(), range(8)))
    assert started.is_set() and results == [1] * 8 and len(calls) == 1
    assert slow() == 1 and len(calls) == 1

    failures: list[int] = []

    @loaded_once
    def flaky() -> str:
        failures.append(1)
        if len(failures) == 1:
            raise OSError("the model file is being written")
        return "loaded"

    with pytest.raises(OSError):
        flaky()
    assert flaky() == "loaded" and flaky() == "loaded" and len(failures) == 2


def test_the_classifier_is_trained_and_its_version_is_that_of_the_current_data() -> None:
    assert trained_classifier() is not None, "run `make train`"


def test_the_classifier_version_follows_its_training_data(monkeypatch: pytest.MonkeyPatch) -> None:
    from careprep.safety import classifier

    version = classifier.current_version()
    pairs = classifier.training_examples()
    monkeypatch.setattr(
        classifier, "training_examples", lambda: [*pairs, ("wobbly elbow", "urgent")]
    )
    assert classifier.current_version() != version
    monkeypatch.setattr(classifier, "training_examples", lambda: list(pairs))
    assert classifier.current_version() == version


def test_training_the_classifier_twice_gives_the_same_model() -> None:
    from careprep.safety.classifier import LABELS, train, training_examples

    sample = training_examples()[::6]
    first = train(sample, "a").probabilities("my chest feels tight and heavy")
    second = train(sample, "b").probabilities("my chest feels tight and heavy")
    assert set(first) == set(LABELS)
    assert max(first.values()) - min(first.values()) > 0.1, "it learnt nothing"
    assert first == second


@pytest.mark.parametrize(
    ("probabilities", "added"),
    [
        # shared between levels, each less likely than "none": together they decide
        (
            {"none": 0.32, "safeguarding": 0.25, "mental_health": 0.23, "urgent": 0.2},
            Level.SAFEGUARDING,
        ),
        ({"none": 0.3, "safeguarding": 0.36, "mental_health": 0.34}, Level.SAFEGUARDING),
        ({"none": 0.34, "urgent": 0.25, "emergency": 0.41}, Level.EMERGENCY),
        ({"none": 0.36, "mental_health": 0.64}, None),
        ({"none": 0.9, "urgent": 0.1}, None),
    ],
)
def test_the_classifier_adds_the_likeliest_level_when_the_levels_together_are_likely(
    monkeypatch: pytest.MonkeyPatch, probabilities: dict[str, float], added: Level | None
) -> None:
    from careprep.safety.classifier import LABELS, THRESHOLD, SafetyClassifier

    assert THRESHOLD == 0.65
    second = SafetyClassifier(None, None, None, "test")
    every = {label: probabilities.get(label, 0.0) for label in LABELS}
    monkeypatch.setattr(second, "probabilities_of", lambda features, text: every)
    assert second.predict("", "") is added


def test_patterns_are_versioned_and_the_version_follows_their_content(tmp_path: Path) -> None:
    from careprep.safety import PATTERNS_DIR
    from careprep.safety.matching import Detector, load_patterns

    for path in PATTERNS_DIR.glob("*.yml"):
        shutil.copy(path, tmp_path / path.name)
    original = Detector(load_patterns(tmp_path))
    number, digest = original.version.split("+")
    assert int(number) >= 2 and len(digest) == 8
    assert original.version == load_patterns(PATTERNS_DIR).version
    urgent = tmp_path / "urgent.yml"
    urgent.write_text(
        urgent.read_text().replace(
            "levels:\n  urgent:\n", "levels:\n  urgent:\n    - wobbly elbow\n"
        )
    )
    changed = Detector(load_patterns(tmp_path))
    assert original.detect_all("my wobbly elbow") == []
    assert [concern.level for concern in changed.detect_all("my wobbly elbow")] == [Level.URGENT]
    assert changed.version.split("+")[0] == number and changed.version != original.version


def test_a_concept_used_but_never_defined_is_refused(tmp_path: Path) -> None:
    from careprep.safety.matching import Detector, load_patterns

    (tmp_path / "common.yml").write_text("version: 9\nlevels:\n  urgent: ['NOWHERE ~2 pain']\n")
    with pytest.raises(ValueError, match="unknown concept NOWHERE"):
        Detector(load_patterns(tmp_path))


def test_a_concept_named_with_a_digit_is_a_concept_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    # "PH4_ASSAULT" was once read as the word "ph4_assault": its rules silently never matched
    from careprep.safety.matching import Detector, load_patterns

    (tmp_path / "common.yml").write_text(
        "version: 9\nconcepts:\n  PH4_PAIN: [pain, ache]\n"
        "levels:\n  urgent: ['PH4_PAIN ~2 worse']\n"
    )
    rules = Detector(load_patterns(tmp_path))
    assert [c.level for c in rules.detect_all("the ache is worse")] == [Level.URGENT]
    (tmp_path / "common.yml").write_text("version: 9\nlevels:\n  urgent: ['PH5_GONE ~2 pain']\n")
    with pytest.raises(ValueError, match="unknown concept PH5_GONE"):
        Detector(load_patterns(tmp_path))


@pytest.mark.parametrize(
    ("files", "refused"),
    [
        (
            {"common.yml": "concepts:\n  PAIN: [pain, ache, pain]\n"},
            "concept PAIN has 'pain' twice",
        ),
        (
            {
                "urgent.yml": "levels:\n  urgent: ['PAIN ~2 worse']\n",
                "more.yml": "levels:\n  urgent: ['PAIN ~2 worse']\n",
            },
            "level urgent has 'PAIN ~2 worse' twice",
        ),
    ],
)
def test_a_rule_or_a_phrase_written_twice_is_refused(
    tmp_path: Path, files: dict[str, str], refused: str
) -> None:
    # copies crept in (a rule line twice, "world" twice in one concept): harmless to
    # matching, but an edit to one copy would silently leave the other in force
    from careprep.safety.matching import load_patterns

    (tmp_path / "base.yml").write_text("version: 9\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=re.escape(refused)):
        load_patterns(tmp_path)


def test_a_concept_or_a_regex_among_the_options_of_a_part_matches(tmp_path: Path) -> None:
    # "PILLS|bleach" once matched only the word "bleach": a rule writer's concept
    # among the options was read as a word and silently never matched
    from careprep.safety.matching import Detector, load_patterns

    (tmp_path / "common.yml").write_text(
        "version: 9\nconcepts:\n  PILLS: [pill, tablet]\n"
        "levels:\n  mental_health: ['PILLS|bleach|/^para.+/ ~2 hoard|stockpile']\n"
        "  urgent: ['/^(?:sweet|PILLS|gum)$/ ~1 swallow']\n"
    )
    rules = Detector(load_patterns(tmp_path))
    for message in ("tablets hoarded", "bleach stockpiled", "paracetamol stockpiled"):
        assert [c.level for c in rules.detect_all(message)] == [Level.MENTAL_HEALTH], message
    assert rules.detect_all("bread stockpiled") == []
    # a regex with its own | stays one regex
    assert [c.level for c in rules.detect_all("sweets swallowed")] == [Level.URGENT]


def test_nlu_examples_agree_with_the_detector() -> None:
    nlu = yaml.safe_load((ROOT / "bot/data/nlu.yml").read_text())["nlu"]
    checked: Counter[str] = Counter()
    for block in nlu:
        level = level_of_intent(block["intent"])
        for line in block["examples"].splitlines():
            example = line.strip()[2:]
            if not example:
                continue
            found = [concern.level for concern in detect_all(example)]
            if level is None:
                assert not found, (block["intent"], example, found)
            else:
                over_triage = level is Level.URGENT and Level.EMERGENCY in found
                assert level in found or over_triage, (example, found)
            checked[level.value if level else "everyday"] += 1
    assert set(checked) == {"everyday", *(level.value for level in SEVERITY)}, checked
    assert checked["everyday"] >= 200, checked


def test_every_level_has_an_intent_and_a_rule() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    rules = (ROOT / "bot/data/rules.yml").read_text()
    for level in SEVERITY:
        assert intent_for(level) in domain["intents"]
        assert f"intent: {intent_for(level)}" in rules


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # a condition taught, read or asked about is a topic, not a case (4 of these raise
        # 999 or 111 on the rules before round 12)
        ("can you explain what DKA is? my ketones are always 0.1", None),
        ("I've got the stroke warning signs leaflet on the fridge", None),
        ("the nurse went through the signs of a heart attack with me at my review", None),
        ("we had a talk about DKA on the pump course, I understand it better now", None),
        # ... unless a claim that it is happening follows (4 of these raise nothing on the
        # rules before round 12, when a topic was an exclusion that nothing could undo)
        ("read the leaflet on sepsis, I think I've got it", Level.EMERGENCY),
        ("read the sepsis leaflet, I think I've got it", Level.EMERGENCY),
        ("I read about meningitis and I'm sure that's what the baby has", Level.EMERGENCY),
        ("I've been reading about heart attacks and I think I'm having one", Level.EMERGENCY),
        ("the nurse taught us the signs of sepsis and she has all of them now", Level.EMERGENCY),
        ("we learnt about sepsis on the course and I think Mum has it now", Level.EMERGENCY),
        ("the sepsis talk was yesterday and now I think my husband has it", Level.EMERGENCY),
        ("I went through the stroke warning signs and Dad has every one of them", Level.EMERGENCY),
        ("I don't understand what a stroke is but I think Dad is having one", Level.EMERGENCY),
        (
            "the DKA section of the leaflet describes exactly what's happening to my son right now",
            Level.EMERGENCY,
        ),
    ],
)
def test_a_condition_named_as_a_topic_is_no_case_unless_a_claim_follows(
    text: str, level: Level | None
) -> None:
    assert_signposts(text, level)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # advice quoted and then come true: round 12 measured quoted advice ("the leaflet
        # says call 999 if ...") as a topic and did not take it, since these were lost
        ("his seizure plan says call 999 after 5 minutes and it's been 6 minutes", Level.EMERGENCY),
        ("the nurse said ring 111 if the wound goes red and hot and it has", Level.URGENT),
        (
            "my steroid card says call 999 if I'm vomiting and I've been sick all morning",
            Level.EMERGENCY,
        ),
        (
            "the midwife said ring 111 if the baby's temperature goes over 38, it's 38.4",
            Level.URGENT,
        ),
        (
            "told to ring 999 straight away if it happens again, and it just happened again",
            Level.EMERGENCY,
        ),
    ],
)
def test_quoted_advice_whose_warning_sign_has_come_stays_a_red_flag(
    text: str, level: Level | None
) -> None:
    assert_signposts(text, level)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # red flags written against round 10's emergency exclusions with long gaps; each
        # raised nothing on the rules before round 12 (the exclusion dropped every finding
        # inside its reach)
        (
            "She's been fitting for 8 minutes, it started like one of her usual ones but it"
            " won't stop and she's hurt herself",
            Level.EMERGENCY,
        ),
        (
            "he's having seizure after seizure and not coming round between them, his usual"
            " ones only last a minute",
            Level.EMERGENCY,
        ),
        (
            "I saw the crash happen, my husband is bleeding heavily from his head and not"
            " responding. I've called 999 and they're on the way",
            Level.EMERGENCY,
        ),
        (
            "we were watching a film when my husband had a seizure and it's been going for 6"
            " minutes",
            Level.EMERGENCY,
        ),
        (
            "I saw the accident and the driver is unconscious and not breathing, I've called 999",
            Level.EMERGENCY,
        ),
        # the everyday messages those exclusions were written for stay everyday
        ("she had a seizure last night, one of her usual ones, tired today but herself", None),
        ("had a fit on Monday, my usual one, about a minute, fine now", None),
        (
            "he had a seizure in the night, one of his normal ones, back to himself by breakfast",
            None,
        ),
        ("watched a documentary about a man who had a stroke, very moving", None),
    ],
)
def test_an_everyday_exclusion_with_a_long_gap_does_not_hide_an_emergency_inside_it(
    text: str, level: Level | None
) -> None:
    assert_signposts(text, level)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # rules round 13: the concepts of batch 28's development misses (veterans, farmers,
        # the bereaved, sport, venting), each written here in other words; 19 of these 34
        # fail on the rules before round 13
        ("i don't think i can keep myself safe this weekend", Level.MENTAL_HEALTH),
        (
            "we got the letter, the appointment's in 6 weeks"
            " and honestly I don't think I'll make it that long",
            Level.MENTAL_HEALTH,
        ),
        ("thanks for all you've done and goodbye. I won't need the review", Level.MENTAL_HEALTH),
        ("I've left a belt tied to the bannister upstairs, just in case", Level.MENTAL_HEALTH),
        (
            "got the pills and a bottle of vodka saved up for when he's away on the lorry",
            Level.MENTAL_HEALTH,
        ),
        (
            "last night I sat in the car planning not to come home, I'm going to try again tonight",
            Level.MENTAL_HEALTH,
        ),
        (
            "keep thinking if I crashed the quad it would look like an accident",
            Level.MENTAL_HEALTH,
        ),
        ("what's the quickest way to die without it hurting", Level.MENTAL_HEALTH),
        ("every morning I wake up wishing I hadn't", Level.MENTAL_HEALTH),
        ("my wife keeps begging me to help her end it with her morphine", Level.MENTAL_HEALTH),
        ("I've been having urges to hurt the baby when he won't stop crying", Level.MENTAL_HEALTH),
        ("I swear I could kill someone today, not joking.", Level.MENTAL_HEALTH),
        ("he says the voices told him he has to hurt himself to protect us", Level.MENTAL_HEALTH),
        ("I've been burning myself with a lighter since the funeral", Level.MENTAL_HEALTH),
        ("she started fitting at 3:15 and it's 3:22 now and she's still jerking", Level.EMERGENCY),
        ("he had two fits and hasn't recovered between them", Level.EMERGENCY),
        ("Mum collapsed in the garden, we're shaking her and nothing", Level.EMERGENCY),
        ("my chest hurts. it's crushing and spreading down my left arm", Level.EMERGENCY),
        ("cut my hand on the saw and it's pumping blood and won't stop", Level.EMERGENCY),
        ("my husband's bursting to wee but nothing comes out and he's in agony", Level.URGENT),
        (
            "she's on lithium and has been vomiting all day, now very shaky and unsteady",
            Level.URGENT,
        ),
        ("I'm now breathless just walking to the loo", Level.URGENT),
        ("her son leaves her alone all weekend with no food in the house", Level.SAFEGUARDING),
        (
            "my daughter came home from her dad's with bruises and says he hit her",
            Level.SAFEGUARDING,
        ),
        ("a man she met on a game keeps asking her for photos", Level.SAFEGUARDING),
        ("he says I have to sleep with him or he'll tell my parents", Level.SAFEGUARDING),
        # the everyday phrases of round 13: idioms of sight, fitting and being run over, a
        # working life of emergencies, an animal, an event dated by the next sentence
        ("she went into a blind rage when the bus didn't turn up again", None),
        ("I'm going blind reading these tiny labels, can the chemist print bigger", None),
        ("I've got a fitting for my new hearing aids on Tuesday", None),
        ("felt like I'd been run over by a bus after the booster, fine the next day", None),
        ("as a nurse I've seen plenty of heart attacks, so I know mine is just indigestion", None),
        ("the sheepdog collapsed in the yard, vet says heatstroke, she's recovered", None),
        ("I had a bad fall and was knocked out. That was 20 years ago, no problems since", None),
        ("my blood pressure tablets make running feel harder, is that normal", None),
        # everyday messages written after round 13 to probe its rules; 9 of them raised a
        # mental health alarm until the rules were narrowed
        ("almost stepped in dog poo on the way in.", None),
        ("Sorry I won't be here, we're away in Spain for the review", None),
        ("Thanks for trying with my knee, you did your best, I'll see the surgeon now", None),
        ("the dog's lead tied to the banister so he can't get upstairs", None),
        ("we're going climbing with a rope and harness at the weekend", None),
        ("tablets and a bottle of water kept by the bed for the night", None),
        ("what's the quickest way to go, bus or train?", None),
        ("What's the easiest way to do it? I mean the injections", None),
        ("I could kill someone for a coffee, not joking.", None),
        ("I've been burning myself on the oven every time I cook", None),
    ],
)
def test_round_13_concepts_hold_on_words_written_apart_from_the_corpus(
    text: str, level: Level | None
) -> None:
    assert_signposts(text, level)
