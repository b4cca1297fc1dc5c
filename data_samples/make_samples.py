"""Generate the workbench's sample datasets from seeded templates (run: python data_samples/make_samples.py).

Everything here is written by this project: no public dataset is copied. The same seed gives the same files,
so the committed files can be checked by running the script again and diffing.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
SEED = 1234

INSTRUCTION = "Rate this product review."
PRODUCTS = [
    "headphones",
    "blender",
    "backpack",
    "desk lamp",
    "phone case",
    "coffee maker",
    "keyboard",
    "water bottle",
    "running shoes",
    "umbrella",
    "toaster",
    "mouse",
    "charger",
    "tent",
    "jacket",
    "kettle",
    "monitor",
    "yoga mat",
    "watch",
    "speaker",
    "vacuum",
    "pillow",
]
MINOR = [
    "the cable is a bit short",
    "the colour is darker than shown",
    "it is a little heavy",
    "setup took a while",
    "the box was dented",
    "it is slightly noisy",
]
MAJOR = ["broke", "stopped working", "fell apart", "arrived damaged", "overheated"]
TEMPLATES = {
    5: [
        "Absolutely love this {p}!",
        "Best {p} I have ever owned.",
        "Fantastic {p}, works perfectly.",
        "Excellent quality. I would buy this {p} again in a heartbeat.",
    ],
    4: ["Good {p}, though {minor}.", "Really nice {p}; only {minor}.", "Happy with this {p}, even if {minor}."],
    3: [
        "The {p} is okay, nothing special.",
        "Average {p}: it works, but {minor}.",
        "It's a decent {p}, neither good nor bad.",
    ],
    2: [
        "Disappointed with this {p}. It {major} after a month.",
        "Not great: the {p} {major} and support was slow.",
        "Below average {p}; {minor}, and it {major} once already.",
    ],
    1: [
        "Terrible {p}, it {major} within a week.",
        "Worst purchase ever, the {p} {major}.",
        "Do not buy this {p}. It {major} on day one.",
    ],
}
FILLERS = ["", " Shipping was fast.", " I bought it as a gift.", " Used it for two weeks now.", " Price was fair."]
TRAIN_STYLE = (PRODUCTS, MINOR, MAJOR, TEMPLATES, FILLERS)

# The held-out reviews share nothing with the training reviews but the task: other products, other complaints,
# other phrasings (longer, first-person, past tense) and other closings, so the held-out score measures whether
# the model learned the task rather than the training sentences (tests/test_samples.py measures the overlap).
EVAL_PRODUCTS = [
    "rice cooker",
    "bike helmet",
    "frying pan",
    "office chair",
    "printer",
    "camera bag",
    "electric toothbrush",
    "hair dryer",
    "board game",
    "cordless drill",
    "sleeping bag",
    "thermos",
    "air fryer",
    "router",
    "suitcase",
    "lunch box",
]
EVAL_MINOR = [
    "the manual is confusing",
    "one button feels loose",
    "the lid squeaks",
    "it smelled of plastic at first",
    "the strap could be longer",
    "delivery took nine days",
]
EVAL_MAJOR = ["cracked", "died", "leaked everywhere", "would not turn on", "lost a part"]
EVAL_TEMPLATES = {
    5: [
        "Ordered the {p} last spring and it has been flawless ever since.",
        "My family fights over who gets to use the {p}, which says it all.",
        "Could not be happier: the {p} exceeded every expectation I had.",
    ],
    4: [
        "Solid {p} overall; my one complaint is that {minor}.",
        "We use the {p} daily and like it, although {minor}.",
        "Pretty good value for a {p}, but {minor}.",
    ],
    3: [
        "The {p} does the job and that is about it.",
        "Mixed feelings about the {p}: fine for the price, yet {minor}.",
        "I neither love nor hate this {p}.",
    ],
    2: [
        "Expected more from the {p}; it {major} after a few weeks of light use.",
        "Our {p} {major} before the warranty ran out, so I cannot recommend it.",
        "Mostly regret getting the {p}, since {minor} and it {major}.",
    ],
    1: [
        "Complete waste of money, the {p} {major} the first time I used it.",
        "Returning the {p} today because it {major} straight out of the box.",
        "Avoid this {p} at all costs; mine {major} within days.",
    ],
}
EVAL_FILLERS = ["", " Would love a cheaper version.", " My partner agrees.", " Got it on sale."]
EVAL_STYLE = (EVAL_PRODUCTS, EVAL_MINOR, EVAL_MAJOR, EVAL_TEMPLATES, EVAL_FILLERS)

# Out of distribution: the same task on another domain (places, films, apps) and longer reviews of two or
# three sentences. Reported apart from the held-out score: how far the learned behaviour carries.
OOD_SUBJECTS = ["hotel", "restaurant", "film", "museum tour", "concert", "cafe", "train journey", "language app"]
OOD_OPENINGS = {
    5: [
        "We spent a weekend with the {s} and it was magical from start to finish.",
        "I have recommended this {s} to everyone I know.",
    ],
    4: ["The {s} was lovely for the most part.", "A very pleasant {s}, with one or two rough edges."],
    3: ["The {s} was fine, I suppose.", "Honestly the {s} left me with no strong feelings either way."],
    2: ["The {s} fell short of what the photos promised.", "I wanted to like the {s}, but it let me down."],
    1: ["The {s} was a disaster and I want my money back.", "I would give the {s} zero stars if I could."],
}
OOD_DETAILS = {
    5: ["The staff remembered our names and nothing was too much trouble.", "Every detail felt carefully planned."],
    4: ["The staff were friendly, though the wait was long.", "Most things worked well, apart from a noisy evening."],
    3: ["Some parts were good and some were forgettable.", "Nothing went wrong, but nothing stood out either."],
    2: ["The staff seemed uninterested and the place was not clean.", "Half of what was advertised was not available."],
    1: ["We were treated rudely and nobody apologised.", "It was dirty, late and far too expensive."],
}
OOD_CLOSINGS = ["", " We will see about next time.", " Read other reviews before you go."]
SENTIMENT = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}


def label(stars: int) -> str:
    """The one answer the SFT set teaches: a compact JSON object, nothing else."""
    return json.dumps({"sentiment": SENTIMENT[stars], "stars": stars})


def review_pool(rng: random.Random, style=TRAIN_STYLE) -> list[tuple[str, int]]:
    """Every distinct (review, stars) one style's templates make, shuffled."""
    products, minors, majors, templates_by_stars, fillers = style
    pool = set()
    for stars, templates in templates_by_stars.items():
        for template in templates:
            for product in products:
                for filler in fillers:
                    minor, major = rng.choice(minors), rng.choice(majors)
                    pool.add((template.format(p=product, minor=minor, major=major) + filler, stars))
    reviews = sorted(pool)
    rng.shuffle(reviews)
    return reviews


def ood_reviews(rng: random.Random) -> list[tuple[str, int]]:
    """Longer reviews of places, films and apps: an opening, a detail and sometimes a closing sentence."""
    pool = {
        (f"{opening.format(s=subject)} {detail}{closing}", stars)
        for stars in OOD_OPENINGS
        for subject in OOD_SUBJECTS
        for opening in OOD_OPENINGS[stars]
        for detail in OOD_DETAILS[stars]
        for closing in OOD_CLOSINGS
    }
    reviews = sorted(pool)
    rng.shuffle(reviews)
    return reviews


def rejected_answer(rng: random.Random, review: str, stars: int) -> str:
    """What DPO should learn to avoid: chatty prose, a fenced answer with commentary, or a wrong label."""
    style = rng.randrange(3)
    if style == 0:
        return (
            f'Sure! Let me analyse this review for you. The customer writes: "{review}" Overall the tone '
            f"seems {SENTIMENT[stars]}, so I would say it deserves around {stars} stars. I hope this helps!"
        )
    if style == 1:
        return f"Here is the rating:\n```json\n{label(stars)}\n```\nLet me know if you need anything else."
    wrong = rng.choice([s for s in SENTIMENT if SENTIMENT[s] != SENTIMENT[stars]])
    return label(wrong)


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


TRAIN_UNITS = [
    ("km", [("mi", lambda x: x * 0.621371), ("m", lambda x: x * 1000)]),
    ("kg", [("lb", lambda x: x * 2.20462), ("g", lambda x: x * 1000)]),
    ("°C", [("°F", lambda x: x * 9 / 5 + 32), ("K", lambda x: x + 273.15)]),
    ("L", [("US gal", lambda x: x * 0.264172), ("mL", lambda x: x * 1000)]),
    ("m", [("ft", lambda x: x * 3.28084), ("cm", lambda x: x * 100)]),
]
# Held out: the reverse conversions (units the model only saw as targets) and other follow-up phrasings.
EVAL_UNITS = [
    ("mi", [("km", lambda x: x / 0.621371), ("ft", lambda x: x * 5280)]),
    ("lb", [("kg", lambda x: x / 2.20462), ("oz", lambda x: x * 16)]),
    ("°F", [("°C", lambda x: (x - 32) * 5 / 9), ("K", lambda x: (x - 32) * 5 / 9 + 273.15)]),
    ("US gal", [("L", lambda x: x / 0.264172), ("qt", lambda x: x * 4)]),
]
TRAIN_FOLLOW_UPS = ["And in {u}?", "What about {u}?", "Now in {u}, please."]
EVAL_FOLLOW_UPS = ["How much is that in {u}?", "Could you give it in {u} too?"]


def conversions(
    rng: random.Random, count: int, units=TRAIN_UNITS, follow_ups=TRAIN_FOLLOW_UPS, thanks: bool = True
) -> list[dict]:
    """Multi-turn ShareGPT chats with a terse unit-converter persona; answers are computed, so always right."""
    chats, seen = [], set()
    while len(chats) < count:
        unit, targets = rng.choice(units)
        value = rng.choice([rng.randint(1, 120), round(rng.uniform(0.5, 50), 1)])
        if (unit, value) in seen:
            continue
        seen.add((unit, value))
        order = targets if rng.random() < 0.5 else targets[::-1]
        turns = [{"from": "system", "value": "You are a unit converter. Answer with the converted value only."}]
        for i, (target, convert) in enumerate(order):
            question = f"Convert {value} {unit} to {target}." if i == 0 else rng.choice(follow_ups).format(u=target)
            turns += [
                {"from": "human", "value": question},
                {"from": "gpt", "value": f"{value} {unit} = {convert(value):.2f} {target}"},
            ]
        if thanks and rng.random() < 0.4:  # a third turn that thanks: the persona stays brief
            turns += [{"from": "human", "value": "Thanks!"}, {"from": "gpt", "value": "You're welcome."}]
        chats.append({"conversations": turns})
    return chats


def broken_files(folder: Path) -> dict[str, str]:
    """Small files, each with one kind of mistake, for the lessons' troubleshooting section."""
    folder.mkdir(exist_ok=True)
    good = {"instruction": INSTRUCTION, "input": "Great kettle, boils fast.", "output": label(5)}
    lines = {
        "not_json.jsonl": [
            json.dumps(good),
            "{'instruction': 'single quotes are not JSON', 'output': 'x'}",
            '{"instruction": "a trailing comma", "output": "x",}',
            json.dumps(good | {"input": "Fine mouse."}),
        ],
        "missing_fields.jsonl": [
            json.dumps(good),
            json.dumps({"instruction": INSTRUCTION, "input": "No output here."}),
            json.dumps({"instruction": "", "output": label(3)}),
            json.dumps({"instruction": INSTRUCTION, "output": 4}),
        ],
        "wrong_roles.jsonl": [
            json.dumps(
                {"messages": [{"role": "assistant", "content": "I speak first."}, {"role": "user", "content": "Hi"}]}
            ),
            json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"}]}),
            json.dumps({"messages": [{"role": "user", "content": "Only a question, no answer."}]}),
            json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Beep."}]}),
            json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}),
        ],
        "same_answer.jsonl": [
            json.dumps({"prompt": "Rate: great lamp.", "chosen": label(5), "rejected": label(5)}),
            json.dumps({"prompt": "Rate: bad lamp.", "chosen": label(1), "rejected": "It is bad, 1 star."}),
        ],
        "duplicates.jsonl": [json.dumps(good), json.dumps(good | {"input": "Nice tent."}), json.dumps(good)],
    }
    for name, content in lines.items():
        (folder / name).write_text("\n".join(content) + "\n", encoding="utf-8")
    (folder / "empty.jsonl").write_text("", encoding="utf-8")
    # Written by an editor that saved Latin-1: the é is one byte (0xe9), not UTF-8's two.
    (folder / "latin1.jsonl").write_bytes(
        (json.dumps(good) + "\n" + json.dumps(good | {"input": "Très bon café!"}, ensure_ascii=False) + "\n").encode(
            "latin-1"
        )
    )
    (folder / "wrong_columns.csv").write_text(
        'question,answer\n"Rate: the blender is loud.","{""sentiment"": ""negative"", ""stars"": 2}"\n',
        encoding="utf-8",
    )
    return {
        "not_json.jsonl": "lines 2-3 are not JSON (single quotes, a trailing comma)",
        "missing_fields.jsonl": "a missing output, an empty instruction, an output that is a number",
        "wrong_roles.jsonl": "assistant speaks first, two user turns in a row, no assistant turn, an unknown role",
        "same_answer.jsonl": "a preference pair whose chosen and rejected answers are identical",
        "duplicates.jsonl": "the same record twice",
        "empty.jsonl": "an empty file",
        "latin1.jsonl": "saved as Latin-1, not UTF-8 (line 2)",
        "wrong_columns.csv": (
            "columns no format knows: load it with column_map={'question': 'prompt', 'answer': 'completion'}"
        ),
    }


def main() -> None:
    rng = random.Random(SEED)
    pool, held_out = review_pool(rng), review_pool(rng, EVAL_STYLE)
    sft, pref = pool[:300], pool[300:600]
    sft_eval, pref_eval = held_out[:60], held_out[60:120]

    def alpaca(review, stars):
        return {"instruction": INSTRUCTION, "input": review, "output": label(stars)}

    write_jsonl(HERE / "sentiment_json.train.jsonl", [alpaca(*r) for r in sft])
    write_jsonl(HERE / "sentiment_json.eval.jsonl", [alpaca(*r) for r in sft_eval])
    write_jsonl(HERE / "sentiment_json.ood.jsonl", [alpaca(*r) for r in ood_reviews(rng)[:40]])

    def pair(review, stars):
        prompt = [{"role": "user", "content": f"{INSTRUCTION}\n\n{review}"}]
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": label(stars)}],
            "rejected": [{"role": "assistant", "content": rejected_answer(rng, review, stars)}],
        }

    write_jsonl(HERE / "sentiment_preference.train.jsonl", [pair(*r) for r in pref])
    write_jsonl(HERE / "sentiment_preference.eval.jsonl", [pair(*r) for r in pref_eval])

    write_jsonl(HERE / "unit_chat.train.jsonl", conversions(rng, 125))
    write_jsonl(HERE / "unit_chat.eval.jsonl", conversions(rng, 25, EVAL_UNITS, EVAL_FOLLOW_UPS, thanks=False))

    broken = broken_files(HERE / "broken")
    (HERE / "broken" / "README.md").write_text(
        "# Broken files (troubleshooting)\n\nEach file has one kind of mistake; `workbench data check FILE` names the "
        "line and field of each. Made by `make_samples.py`.\n\n"
        + "".join(f"- `{name}`: {what}\n" for name, what in broken.items()),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
