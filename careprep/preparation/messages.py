"""What the assistant says outside the questions, in plain words.

Kept in one place so every message can be checked for length and characters.
"""

URGENT_HELP = (
    "These messages are not read in real time. "
    "If you need help now, call NHS 111, or 999 in an emergency."
)

INTRODUCTION = (
    "Hello, this is {practice}. You have a care planning appointment on {appointment}. "
    "To help you get ready, I will ask you some questions about what matters to you. "
    "It takes about 10 minutes and you can skip any question. "
    "Reply HELP at any time to see what you can say. " + URGENT_HELP
)
REVIEW_INTRODUCTION = (
    "Hello, this is {practice}. It is time to review the care plan you made on {made_on}. "
    "I will ask how your goals are going and what has changed. "
    "It takes about 5 minutes and you can skip any question. "
    "Reply HELP at any time to see what you can say. " + URGENT_HELP
)
REVIEW_COMPLETE_SHARED = (
    "Thank you, your review is done. Your care team will see it, and we will remind you "
    "when your next review is due."
)
REVIEW_COMPLETE_PRIVATE = (
    "Thank you, your review is done. As you asked, your care team will not see your "
    "answers. We will remind you when your next review is due."
)
REVIEW_ASKED_TO_TALK = "Your practice will contact you about {what}."
WELCOME_BACK = "Welcome back. Let's carry on where you left off."
NO_INVITATION = (
    "Sorry, I can't find an invitation for this conversation. Please use the link in the "
    "message from your practice, or contact your practice. " + URGENT_HELP
)
WHY_PREPARE = (
    "Thinking about what matters to you before your appointment helps you and your care "
    "team make the most of your time together."
)
PAUSED = (
    "No problem. Your answers so far are saved. Message me any time and we will carry on{where}."
)
DECLINED = (
    "That's fine, I won't ask anything else. If you change your mind before your "
    "appointment, just message me. " + URGENT_HELP
)
COMPLETE_SHARED = (
    "Thank you, you have finished. Your answers will be shared with your care team "
    "before your appointment."
)
COMPLETE_PRIVATE = (
    "Thank you, you have finished. As you asked, your answers will not be shared with "
    "your care team before your appointment."
)
ALREADY_COMPLETE = (
    "Thank you, your answers are saved and up to date. "
    "To change an answer, reply for example: change my goals."
)
QUESTION_WITH_PROGRESS = "Question {number} of {total}: {text}"
READBACK_HEADING = "Here is what you told me:"
CANT_SKIP = "Sorry, this one can't be skipped."
NOTHING_TO_GO_BACK_TO = "There is nothing to go back to yet."
NOT_REACHED_YET = "We haven't got to that question yet."
BACK_TO = "OK, back to question {number} of {total}."
CHANGE_PART = "OK, let's change {section}."
READBACK_UNCLEAR = (
    "Sorry, please reply YES, or a number from 1 to {parts} for the part you want to change."
)
HELP = (
    "You can reply at any time:\n"
    "WHY - why I ask a question\n"
    "SKIP - skip a question\n"
    "BACK - go back a question (or say, for example, change my goals)\n"
    "PAUSE - stop now and carry on later\n"
    "HELP - this message\n"
    "SUMMARY - a copy of your answers\n"
    "These messages are not read in real time. If you need help now, call NHS 111, "
    "or 999 in an emergency. For anything else, contact your practice."
)
"""The list of commands; the Rasa domain's ``utter_help`` says the same (tests/test_domain.py)."""
SUMMARY_AFTER_IDENTITY = "I can send you a copy of your answers once I know it is you."
"""Said when SUMMARY comes before the date of birth has been checked by SMS."""
ANYTHING_ELSE_GOAL = (
    "Thank you. Is there anything else you would like to do or change? "
    "Tell me, or reply NO to move on."
)

SAFETY_SIGNPOSTS = {
    "emergency": (
        "This could be an emergency. If it is happening now, call 999 now. Do not wait for a reply."
    ),
    "mental_health": (
        "I'm sorry you are feeling like this. If you are in danger now, call 999. "
        "For urgent mental health help, call NHS 111 and choose option 2. "
        "You can talk to Samaritans any time, free, on 116 123."
    ),
    "safeguarding": (
        "I'm sorry this is happening to you. If you are in danger now, call 999; "
        "if you can't talk, press 55 when asked. The National Domestic Abuse Helpline "
        "is free, any time, on 0808 2000 247."
    ),
    "urgent": (
        "If you need medical help soon, go to 111.nhs.uk or call NHS 111. "
        "If it gets worse or you feel very unwell, call 999."
    ),
}
"""What each level of concern needs to be told, most urgent first (careprep.safety.SEVERITY)."""
SAFETY_TAIL = "These messages are not read in real time. We will let your practice know."
SAFETY_REPLIES = {
    level: f"{signpost} {SAFETY_TAIL}" for level, signpost in SAFETY_SIGNPOSTS.items()
}


def safety_reply(levels: list[str]) -> str:
    """Return the signposting for every level found, most urgent first, then the tail."""
    signposts = [SAFETY_SIGNPOSTS[level] for level in dict.fromkeys(levels)]
    return " ".join([*signposts, SAFETY_TAIL])


SAFETY_PAUSE = "Your answers so far are saved. When you are ready, message me and we will carry on."

SMS_GREETING = (
    "Hello, this is careprep. We help you get ready for care planning and review your plan. "
    + URGENT_HELP
)
NOT_FOUND_BY_SMS = (
    "Sorry, we can't find an appointment for you to prepare for. "
    "If you think this is wrong, please contact your practice. " + URGENT_HELP
)
IDENTITY_CONFIRMED = "Thank you, that matches our records."
IDENTITY_WRONG = "Sorry, that does not match our records. You have {tries} more {tries_word} left."


def identity_wrong(tries_left: int) -> str:
    """Return the reply to a wrong date of birth, with the tries left."""
    return IDENTITY_WRONG.format(tries=tries_left, tries_word="try" if tries_left == 1 else "tries")


IDENTITY_LOCKED = (
    "Sorry, we could not confirm who you are, so we have stopped here. "
    "We have told your practice, and they will contact you. " + URGENT_HELP
)
OPTED_IN = (
    "You will get text messages from careprep again. "
    "Reply HI to carry on getting ready for your appointment."
)
EMPTY_SMS = "Sorry, that message was empty. Reply HELP to see what you can say."

INVITATION = (
    "Hello from {practice}. You have a care planning appointment on {appointment}. "
    "To get ready, reply HI and I will ask you about what matters to you, "
    "or answer online: {link}\n"
    "It takes about 10 minutes and you can skip any question. "
    "Messages are not read in real time: if you need help now, call NHS 111, or 999."
)
NUDGE = (
    "{practice}: your care planning appointment is on {appointment}. "
    "You have not finished getting ready for it yet. "
    "Reply HI to carry on where you left off, or answer online: {link}\n"
    "If you need help now, call NHS 111, or 999."
)
REVIEW_REMINDER = (
    "Hello from {practice}. It is time to review the care plan you made on {appointment}. "
    "Reply HI and I will ask how your goals are going, or answer online: {link}\n"
    "It takes about 5 minutes. "
    "Messages are not read in real time: if you need help now, call NHS 111, or 999."
)
REVIEW_SECOND = (
    "{practice}: a reminder to review your care plan. "
    "Reply HI to start, or answer online: {link}\n"
    "If you need help now, call NHS 111, or 999."
)
