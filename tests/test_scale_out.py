"""The scale-out set-up: two of each process behind nginx, a Redis lock store, PostgreSQL.

Fifty patients talk at once through nginx (45 by signed SMS, 5 in the web chat), each sending
two answers at the same moment once (so that they often reach two Rasa servers), and nothing may
be lost, doubled or answered out of order: the store, the tracker and every reply must tell the
same story. Six of them end with a red flag, at about the same moment, on servers that have not
raised a flag yet. The load runs once (``load``); each test checks one side of it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import select

from bot.transcript import Line, transcript
from careprep.clinic.appointments import NewAppointment, add_appointment
from careprep.clinic.practices import MessagingChange, set_messaging
from careprep.safety import Level, versions
from careprep.scaleout import Cluster, ListeningChild, ScaleOutError, executable
from careprep.store import engine_for, session_scope
from careprep.store.migrate import upgrade
from careprep.store.models import Answer, OutboxMessage, Preparation, SafetyFlag
from careprep.supervisor import Ports, free_ports
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.factories import DRAMA_MOBILES
from tests.rasa_stack import SMS_WEBHOOK, TWILIO_AUTH_TOKEN, SmsReply, new_message_sid, sign
from tests.safety_samples import carries_signposting
from tests.web_patient import DOB, plain

ROOT = Path(__file__).resolve().parents[1]
SMS_PATIENTS = 45
WEB_PATIENTS = 5
PRACTICE = "Hill Surgery"
FLAGGED_EVERY = 9
"""Patients 0, 9, ..., 45 (five by SMS, one in the web chat) end with an urgent red flag: its
signposting comes first and the next question follows, as for any other answer."""
QUESTION = re.compile(r"Question (\d+) of \d+")
LOGGED = re.compile(r"^\S+ (\S+) (\d+) \S+ (\d+) (.+) \S+ \S+$")
"""A line of nginx's access log: time, request id, port, method, status, upstream(s), timings."""


def installed_or_skip() -> None:
    """Install nginx and redis-server as `make test` does, or skip if they cannot be."""
    try:
        executable("nginx", "/usr/sbin/nginx")
        executable("redis-server", "/usr/bin/redis-server")
        return
    except ScaleOutError:
        pass
    made = subprocess.run(
        ["make", "--no-print-directory", "nginx"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        executable("nginx", "/usr/sbin/nginx")
        executable("redis-server", "/usr/bin/redis-server")
    except ScaleOutError:
        why = (made.stderr or made.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"nginx or redis-server is not installed and `make nginx` failed: {why[0]}")


@dataclass
class Patient:
    """A booked patient, and the three answers they give (two of them at once)."""

    number: int
    phone: str
    appointment_id: int
    sender_id: str
    link: str

    @property
    def burst(self) -> tuple[str, str]:
        return (
            f"Time with my family, patient {self.number} message A",
            f"Walking the dog, patient {self.number} message B",
        )

    @property
    def raises_a_flag(self) -> bool:
        return self.number % FLAGGED_EVERY == 0

    @property
    def last(self) -> str:
        if self.raises_a_flag:
            return (
                "My knees hurt on the stairs and I have had a temperature of 39 and shivers "
                f"since yesterday, patient {self.number} message C"
            )
        return f"My knees hurt on the stairs, patient {self.number} message C"


@dataclass
class Sent:
    """One message and what came back for it."""

    text: str
    status: int
    replies: list[str]
    request_id: str

    @property
    def asks(self) -> int | None:
        """The number of the question the reply asks (the first one it names), if any."""
        found = QUESTION.findall("\n".join(self.replies))
        return int(found[0]) if found else None


@dataclass
class Conversation:
    patient: Patient
    channel: str
    sent: list[Sent] = field(default_factory=list)
    burst: list[Sent] = field(default_factory=list)


def book(database_url: str, web_url: str) -> list[Patient]:
    """Book 51 appointments in three days (50 for the load, 1 spare) at a practice that texts
    at any hour."""
    patients = []
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    with session_scope(database_url) as session:
        for number in range(SMS_PATIENTS + WEB_PATIENTS + 1):
            appointment, _ = add_appointment(
                session,
                NewAppointment(
                    practice=PRACTICE,
                    patient_name=f"Patient {number}",
                    phone=DRAMA_MOBILES[number],
                    dob="1950-02-03",
                    at=(start + timedelta(minutes=15 * number)).isoformat(),
                ),
                "Europe/London",
                invite_from=web_url,
            )
            session.flush()
            preparation = appointment.preparation
            patients.append(
                Patient(
                    number,
                    str(appointment.patient.phone),
                    int(appointment.id),
                    preparation.invite_token,
                    preparation.link_token,
                )
            )
        set_messaging(session, PRACTICE, MessagingChange(quiet_hours="none", send_rate=100))
    return patients


def at_once(send: Callable[[str], Sent], texts: tuple[str, str]) -> list[Sent]:
    """Send two messages at the same moment, from two threads."""
    ready = threading.Barrier(2)

    def go(text: str) -> Sent:
        ready.wait()
        return send(text)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(go, texts))


def texter(cluster: Cluster, patient: Patient) -> Callable[[str], Sent]:
    """Return a function that texts from the patient's phone through nginx, signed as Twilio."""
    http = requests.Session()

    def send(body: str) -> Sent:
        params = {
            "From": patient.phone,
            "To": "+447700900000",
            "Body": body,
            "MessageSid": new_message_sid(),
            "AccountSid": "AC" + "0" * 32,
            "NumMedia": "0",
        }
        signature = sign(params, cluster.public_url + SMS_WEBHOOK)
        answer = http.post(
            cluster.url + SMS_WEBHOOK,
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=120,
        )
        reply = SmsReply(answer.status_code, answer.text)
        return Sent(body, reply.status, reply.texts, answer.headers.get("X-Request-ID", ""))

    return send


def by_sms(cluster: Cluster, patient: Patient) -> Conversation:
    """Hi, the date of birth, yes, two answers at once, one more answer: signed as Twilio signs."""
    send = texter(cluster, patient)
    conversation = Conversation(patient, "sms")
    conversation.sent = [send(text) for text in ("Hi", "3/2/1950", "1")]
    conversation.burst = at_once(send, patient.burst)
    conversation.sent.append(send(patient.last))
    return conversation


def new_lines(page: str, after: str) -> list[str]:
    """The chat's messages (as plain text) from the last one that is ``after``, on."""
    entries = re.findall(r'<p class="careprep-chat__text">(.*?)</p>', page, re.S)
    lines = [plain(entry) for entry in entries]
    mine = max((n for n, line in enumerate(lines) if line == after), default=None)
    return [] if mine is None else lines[mine:]


def by_web_chat(cluster: Cluster, patient: Patient) -> Conversation:
    """Open the link, pass the date-of-birth check, yes, two answers at once, one more answer."""
    browser = requests.Session()
    link = f"{cluster.url}/chat/{patient.link}"
    page = browser.get(link, timeout=120).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, page
    checked = browser.post(f"{link}/check", data={**DOB, "csrf_token": csrf.group(1)}, timeout=120)
    assert checked.status_code == 200, checked.text
    assert "Question 1 of" in checked.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', checked.text)
    assert csrf, checked.text

    def send(text: str) -> Sent:
        # Each send is its own browser tab on the same session, as the chat's script posts.
        tab = requests.Session()
        tab.cookies.update(browser.cookies)
        answer = tab.post(
            link,
            data={"csrf_token": csrf.group(1), "typed": text},
            headers={"X-Careprep-Chat": "1"},
            timeout=120,
        )
        replies = new_lines(answer.json().get("entries", ""), text) if answer.ok else []
        return Sent(text, answer.status_code, replies, answer.headers.get("X-Request-ID", ""))

    conversation = Conversation(patient, "web")
    conversation.sent = [send("yes")]
    conversation.burst = at_once(send, patient.burst)
    conversation.sent.append(send(patient.last))
    return conversation


@dataclass
class Load:
    cluster: Cluster
    conversations: list[Conversation]
    seconds: float
    spare: Patient
    """A booked patient the load left alone."""


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory, postgres_server: str) -> Iterator[Load]:
    """Start two of everything on a new PostgreSQL database, and hold the 50 conversations."""
    installed_or_skip()
    name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    ports = Ports.free()
    patients = book(url, f"http://127.0.0.1:{ports.web}")
    cluster = Cluster(
        database_url=url,
        workdir=tmp_path_factory.mktemp("scale_out"),
        instances=2,
        root=ROOT,
        ports=ports,
        environment={"TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN},
    )
    try:
        cluster.start()
        cluster.warm_up()
        started = time.monotonic()
        with ThreadPoolExecutor(len(patients) - 1) as pool:
            conversations = list(
                pool.map(
                    lambda patient: (
                        by_sms(cluster, patient)
                        if patient.number < SMS_PATIENTS
                        else by_web_chat(cluster, patient)
                    ),
                    patients[:-1],
                )
            )
        yield Load(cluster, conversations, time.monotonic() - started, patients[-1])
    finally:
        cluster.stop()
        engine_for(url).dispose()
        _drop_postgres_database(postgres_server, name)


def processed_order(conversation: Conversation) -> list[str]:
    """The two answers sent at once, in the order the assistant took them (from its replies)."""
    first, second = sorted(conversation.burst, key=lambda sent: sent.asks or 0)
    return [first.text, second.text]


@pytest.mark.rasa
def test_every_message_is_answered_and_each_reply_follows_its_own_message(load: Load) -> None:
    for conversation in load.conversations:
        every = [*conversation.sent, *conversation.burst]
        assert [sent.status for sent in every] == [200] * len(every), conversation
        if conversation.channel == "sms":
            hi, date_of_birth, yes, last = conversation.sent
            assert hi.replies[-1].endswith("please reply with your date of birth."), hi
            assert (date_of_birth.asks, yes.asks, last.asks) == (1, 2, 5), conversation
        else:
            yes, last = conversation.sent
            assert (yes.asks, last.asks) == (2, 5), conversation
        # One of the two answers sent at once was taken first, and its reply asks question 3;
        # the other's reply asks question 4. Neither is lost, doubled or answered with the other's.
        assert sorted(sent.asks or 0 for sent in conversation.burst) == [3, 4], conversation


@pytest.mark.rasa
def test_the_store_has_each_answer_once_in_the_order_it_was_taken(load: Load) -> None:
    url = load.cluster.database_url
    for conversation in load.conversations:
        patient = conversation.patient
        first, second = processed_order(conversation)
        with session_scope(url) as session:
            answers = session.execute(
                select(Answer.question_id, Answer.raw_text, Answer.channel)
                .join(Preparation, Answer.preparation_id == Preparation.id)
                .where(Preparation.appointment_id == patient.appointment_id)
                .order_by(Answer.answered_at, Answer.id)
            ).all()
        channel = conversation.channel
        assert [tuple(answer) for answer in answers][1:] == [
            ("what_matters", first, channel),
            ("going_well", second, channel),
            ("not_going_well", patient.last, channel),
        ], conversation
        assert answers[0][0] == "consent_start"


@pytest.mark.rasa
def test_each_conversation_in_the_tracker_alternates_patient_and_careprep(load: Load) -> None:
    url = load.cluster.database_url
    for conversation in load.conversations:
        patient = conversation.patient
        with session_scope(url) as session:
            lines = transcript(session, patient.sender_id)
        turns = split_into_turns(lines)
        said = [text for text, _ in turns]
        start = ["Hi", "3/2/1950", "1"] if conversation.channel == "sms" else ["yes"]
        assert said == [*start, *processed_order(conversation), patient.last], said
        assert all(replies for _, replies in turns), turns
        for (text, replies), sent in zip(turns[-4:], replies_in_order(conversation), strict=True):
            assert QUESTION.findall("\n".join(replies))[:1] == [str(sent.asks)], (text, replies)


@pytest.mark.rasa
def test_red_flags_sent_together_are_signposted_first_and_flagged_with_the_nets_versions(
    load: Load,
) -> None:
    # Each flag records the versions of the nets that found it (the Rasa server's): the action
    # servers never load the nets, which once took four flags arriving together a minute.
    in_use = versions()
    flagged = [c for c in load.conversations if c.patient.raises_a_flag]
    assert len(flagged) == 6 and {c.channel for c in flagged} == {"sms", "web"}
    for conversation in flagged:
        last = conversation.sent[-1]
        first_reply = last.replies[0 if conversation.channel == "sms" else 1]
        assert carries_signposting(first_reply, Level.URGENT), last
        with session_scope(load.cluster.database_url) as session:
            flags = session.execute(
                select(
                    SafetyFlag.level,
                    SafetyFlag.message,
                    SafetyFlag.pattern_version,
                    SafetyFlag.classifier_version,
                )
                .join(Preparation, SafetyFlag.preparation_id == Preparation.id)
                .where(Preparation.appointment_id == conversation.patient.appointment_id)
            ).all()
        assert ("urgent", last.text, in_use.patterns, in_use.classifier) in [
            tuple(flag) for flag in flags
        ], flags


def split_into_turns(lines: list[Line]) -> list[tuple[str, list[str]]]:
    """Group a transcript into (what the patient said, what careprep said next) pairs."""
    turns: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.by_patient:
            turns.append((line.text, []))
        elif turns:
            turns[-1][1].append(line.text)
    return turns


def replies_in_order(conversation: Conversation) -> list[Sent]:
    """The last four messages as the assistant took them: yes/1, the two at once, the last."""
    yes = conversation.sent[-2]
    first, second = sorted(conversation.burst, key=lambda sent: sent.asks or 0)
    return [yes, first, second, conversation.sent[-1]]


def access_log(cluster: Cluster) -> dict[str, tuple[int, int, str]]:
    """nginx's log by request id: the listener's port, the status, the upstream server."""
    entries = {}
    for line in cluster.access_log.read_text().splitlines():
        found = LOGGED.match(line)
        assert found, line
        request_id, port, status, upstream = found.groups()
        entries[request_id] = (int(port), int(status), upstream)
    return entries


@pytest.mark.rasa
def test_requests_are_spread_over_both_instances_of_each_server(load: Load) -> None:
    cluster = load.cluster
    assert cluster.ports is not None
    logged = access_log(cluster)
    server_at = {f"127.0.0.1:{port}": name for name, port in cluster.backends.items()}
    served = Counter(server_at.get(upstream, upstream) for _, _, upstream in logged.values())
    for name in cluster.backends:
        assert served[name] > 0, f"{name} served nothing: {served}"
    assert all(status < 500 for _, status, _ in logged.values())
    split = 0
    sms = [c for c in load.conversations if c.channel == "sms"]
    for conversation in sms:
        upstreams = {logged[sent.request_id][2] for sent in conversation.burst}
        split += len(upstreams) == 2
    # No stickiness: a third to a half of the pairs sent at once reach two Rasa servers here.
    assert split >= 3, f"only {split} of {len(sms)} pairs reached two Rasa servers"
    print(
        f"\n50 conversations ({sum(len(c.sent) + 2 for c in load.conversations)} messages) "
        f"in {load.seconds:.1f} s; {split} of {len(sms)} SMS pairs on two Rasa servers; {served}"
    )


@pytest.mark.rasa
def test_each_invitation_is_sent_once_by_one_of_the_two_workers(load: Load) -> None:
    url = load.cluster.database_url

    def invitations() -> list[tuple[str, int]]:
        with session_scope(url) as session:
            return [
                (state, attempts)
                for state, attempts in session.execute(
                    select(OutboxMessage.state, OutboxMessage.attempts).where(
                        OutboxMessage.kind == "invitation"
                    )
                )
            ]

    deadline = time.monotonic() + 60
    while any(state == "pending" for state, _ in invitations()) and time.monotonic() < deadline:
        time.sleep(1)
    assert invitations() == [("logged", 1)] * (SMS_PATIENTS + WEB_PATIENTS + 1)


# The lock store on its own: three processes take the same conversations' locks at once.


@pytest.mark.rasa
def test_a_long_conversation_still_reaches_the_action_servers(load: Load) -> None:
    """Each action call carries the whole tracker: past 64 KB, nginx must still pass it on."""
    send = texter(load.cluster, load.spare)
    assert [send(text).status for text in ("Hi", "3/2/1950")] == [200, 200]
    for _ in range(40):
        sent = send("HELP")
        assert sent.status == 200, sent
        assert any("Question" in reply for reply in sent.replies), sent


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A redis-server of this test's own, on a free port."""
    installed_or_skip()
    [port] = free_ports(1)
    server = ListeningChild(
        "redis",
        [executable("redis-server", "/usr/bin/redis-server"), "--port", str(port),
         "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        None,
        tmp_path / "redis.log",
        port=port,
    )  # fmt: skip
    server.start({}, tmp_path)
    deadline = time.monotonic() + 20
    while not server.ready():
        assert time.monotonic() < deadline, list(server.tail)
        time.sleep(0.05)
    yield port
    server.ask_to_stop()
    server.wait_or_kill()


CONTENDERS = 3
ROUNDS = 40


def contend(port: int, rounds: int) -> None:
    """Take the lock of each of ``rounds`` conversations as the other contenders do, at once.

    Counts in Redis how often two held the same conversation's lock together, and failures.
    """
    from bot.lock_store import AtomicRedisLockStore

    store = AtomicRedisLockStore(host="127.0.0.1", port=port, db=0, key_prefix="test")
    tally = redis.Redis(port=port, db=1)

    async def take(conversation: str) -> None:
        async with store.lock(conversation, wait_time_in_seconds=0.005):
            if tally.incr(f"holding:{conversation}") > 1:
                tally.incr("together")
            await asyncio.sleep(0.01)
            tally.decr(f"holding:{conversation}")

    async def rounds_of_contention() -> None:
        for number in range(rounds):
            conversation = f"conversation-{number}"
            tally.incr(f"arrived:{conversation}")
            while int(tally.get(f"arrived:{conversation}") or 0) < CONTENDERS:
                await asyncio.sleep(0.001)
            try:
                await take(conversation)
            except Exception:
                tally.incr("failed")

    asyncio.run(rounds_of_contention())


def test_the_lock_store_lets_one_server_at_a_time_hold_a_conversation(redis_port: int) -> None:
    code = f"from tests.test_scale_out import contend; contend({redis_port}, {ROUNDS})"
    contenders = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(CONTENDERS)
    ]
    try:
        for contender in contenders:
            _, errors = contender.communicate(timeout=90)
            assert contender.returncode == 0, errors
    except subprocess.TimeoutExpired:
        pytest.fail("a contender was still waiting for a lock after 90 s")
    finally:
        for contender in contenders:
            contender.kill()
            contender.wait()
    tally = redis.Redis(port=redis_port, db=1)
    assert tally.get("together") is None
    assert tally.get("failed") is None
    assert redis.Redis(port=redis_port, db=0).keys("*") == [], "a lock was left behind"


def test_several_instances_refuse_a_sqlite_store(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("careprep")), "up", "--instances", "2"],
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'careprep.db'}",
            "CAREPREP_VAR_DIR": str(tmp_path / "var"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "several instances need a PostgreSQL store" in result.stderr
    assert "DATABASE_URL=postgresql://" in result.stderr
    assert not (tmp_path / "careprep.db").exists()
