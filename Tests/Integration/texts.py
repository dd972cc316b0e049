"""Texts for the coverage test: a broad spread over many topics and languages (what a thief
sends), and many phrasings of one topic (what a legitimate user of one task sends)."""
import itertools
import random

TOPICS = [
    "quantum physics", "medieval history", "football tactics", "baking sourdough bread", "jazz improvisation",
    "corporate tax law", "volcano eruptions", "python programming", "knitting patterns", "stock market crashes",
    "coral reef biology", "romantic poetry", "car engine repair", "black holes", "vegetable gardening",
    "chess openings", "vaccine development", "gothic architecture", "video game design", "kantian ethics",
    "train timetables", "wedding planning", "dog training", "cryptocurrency mining", "ancient egypt",
    "climate policy", "opera singing", "mountain climbing", "tax returns", "origami", "submarine warfare",
    "wine tasting", "skin care routines", "electric guitars", "real estate loans", "bird migration",
]
TEMPLATES = [
    "What is the best introduction to {}?", "Explain {} to a ten year old.", "Latest news about {}",
    "Common mistakes people make with {}", "A short history of {}", "Why do experts disagree about {}?",
    "Qu'est-ce que {} ?", "¿Cómo funciona {}?", "Erklärung: {}", "Perguntas frequentes sobre {}",
]
PROTEIN = [
    "how much protein should I eat per day", "daily protein intake for adults", "protein needs for a 70 kg man",
    "how many grams of protein per kilogram of body weight", "recommended protein intake for women",
    "protein requirements for older adults", "protein per day to build muscle", "is 100 grams of protein a day too much",
    "protein intake for endurance athletes", "daily protein for weight loss", "how much protein do teenagers need",
    "protein requirement during pregnancy", "grams of protein needed daily for runners",
]
MODIFIERS = ["", " exactly", " according to nutritionists", " in grams", " on a vegetarian diet", " for beginners",
             " per meal", " if I exercise", " on rest days", " in winter"]


def broad(n, seed=1):
    pairs = list(itertools.product(TOPICS, TEMPLATES))
    random.Random(seed).shuffle(pairs)
    return [t.format(topic) for topic, t in pairs[:n]]


def one_topic(n, seed=2):
    pairs = list(itertools.product(PROTEIN, MODIFIERS))
    random.Random(seed).shuffle(pairs)
    return [p + m for p, m in pairs[:n]]


def calibration(n=96, seed=3):
    """A public sample for the hasher's centre and the cost's units (disjoint from the tests' order)."""
    return broad(n, seed=seed)
