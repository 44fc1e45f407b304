#!/usr/bin/env python3
"""Writes sample.jsonl: ~3000 short-to-long English texts in ten topics, deterministic (seed 7).

Used by the README's first command, the demo and the CPU benchmark. Regenerate with
    python3 examples/data/generate_sample.py
"""
import json
import os
import random

random.seed(7)

TOPICS = {
    "laptops": (["This laptop", "The notebook", "My new ultrabook", "The gaming laptop"],
                ["boots in seconds", "has a bright display", "runs hot under load", "has a battery that lasts all day",
                 "feels solid and light", "has a keyboard that is a joy to type on", "struggles with video editing",
                 "ships with too much bloatware"]),
    "cooking": (["This pasta recipe", "The sourdough bread", "Grandma's soup", "The curry"],
                ["needs more garlic", "is ready in twenty minutes", "tastes better the next day",
                 "uses fresh basil and tomatoes", "calls for a long slow simmer", "is perfect for a cold evening",
                 "needs a pinch of salt at the end", "goes well with a crisp salad"]),
    "football": (["The striker", "Our goalkeeper", "The home team", "The young midfielder"],
                 ["scored twice in the second half", "saved a penalty in stoppage time", "lost the derby again",
                  "was sent off after a reckless tackle", "controlled the game from the centre",
                  "won the league on the final day", "signed a new contract", "missed an open goal"]),
    "weather": (["Tomorrow's forecast", "The storm", "This winter", "The heatwave"],
                ["brings heavy rain to the coast", "should clear by the afternoon", "broke temperature records",
                 "means snow in the mountains", "kept everyone indoors", "brought strong winds overnight",
                 "will end with thunderstorms", "is milder than usual"]),
    "travel": (["The flight to Lisbon", "Our hotel in Kyoto", "The night train", "The beach resort"],
               ["was delayed by three hours", "had a stunning view of the old town", "was quiet and comfortable",
                "is close to the best restaurants", "lost our luggage", "was worth every penny",
                "offers free breakfast", "is packed with tourists in August"]),
    "programming": (["The Java service", "This Python script", "The Spark job", "Our CUDA kernel"],
                    ["throws a null pointer exception", "runs out of memory on large inputs",
                     "is twice as fast after the refactor", "needs better unit tests", "leaks file handles",
                     "deadlocks under heavy load", "compiles without warnings", "reads its settings from a config file"]),
    "banking": (["My credit card", "The savings account", "The mortgage", "The bank transfer"],
                ["was charged twice", "has a better interest rate now", "took five days to arrive",
                 "was blocked for suspicious activity", "has no monthly fee", "requires a signed form",
                 "was approved within a week", "shows a pending payment"]),
    "health": (["Regular exercise", "A good night's sleep", "Drinking enough water", "The flu vaccine"],
               ["improves your mood", "lowers the risk of heart disease", "helps you focus at work",
                "is recommended every autumn", "reduces headaches", "supports a healthy immune system",
                "makes recovery faster", "is easy to forget on busy days"]),
    "music": (["The new album", "Last night's concert", "The jazz trio", "This symphony"],
              ["has a catchy opening track", "sold out in minutes", "played an encore of old favourites",
               "features a beautiful violin solo", "was too loud in the back rows", "mixes folk and electronica",
               "won a major award", "ends with a quiet piano coda"]),
    "gardening": (["The tomato plants", "Our rose bushes", "The vegetable patch", "The apple tree"],
                  ["need watering every morning", "were eaten by slugs", "bloomed early this spring",
                   "produce more fruit with compost", "should be pruned in winter", "love the sunny corner",
                   "are covered in aphids", "gave a huge harvest this year"]),
}
QUESTIONS = ["Why", "How often", "Does anyone know why", "Is it normal that"]


def sentence(topic):
    subjects, predicates = TOPICS[topic]
    s = f"{random.choice(subjects)} {random.choice(predicates)}"
    if random.random() < 0.15:
        return f"{random.choice(QUESTIONS)} {s[0].lower() + s[1:]}?"
    return s + random.choice([".", ".", ".", "!"])


def text(topic):
    n = random.choice([1, 1, 1, 2, 2, 3, 4, 6, 10, 20])
    return " ".join(sentence(topic) for _ in range(n))


rows = []
for i in range(3000):
    topic = random.choice(sorted(TOPICS))
    rows.append({"id": i, "topic": topic, "text": text(topic)})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.jsonl")
with open(out, "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"wrote {len(rows)} rows to {out}")
