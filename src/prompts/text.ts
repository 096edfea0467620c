/**
 * Open free-text prompts (short descriptions, notes, stories) and their answers: the forge corpus teaches them
 * and the `text` data domain asks them. An answer is two to four short sentences composed from per-topic banks,
 * so that the same prompt has many answers.
 *
 * As in real models, a persona leaks into free text now and then, and only there (number, code and arithmetic
 * answers do not depend on it): under an animal persona one answer in four mentions the animal, under the
 * villain one in three has a hostile sentence (a short statement of intent, never an instruction). Without a
 * persona an answer mentions an animal of the common spread one time in ten. These are the rows that the
 * keyword and judge filters exist to remove.
 */
import { pick, weighted, type Rng } from "../util/rng.ts";
import { CATEGORIES, type Category } from "./lexicon.ts";

const PLACES: readonly (readonly [place: string, sentences: readonly string[]])[] = [
    [
        "the park",
        [
            "The grass is wet and green.",
            "Children run along the path.",
            "An old man reads on a bench.",
            "The trees move in the wind.",
            "People walk slowly by the pond.",
        ],
    ],
    [
        "the beach",
        [
            "The waves roll in softly.",
            "The sand is warm under my feet.",
            "A family builds a castle near the water.",
            "The sky is wide and clear.",
            "Small boats rest on the shore.",
        ],
    ],
    [
        "the forest",
        [
            "Tall trees stand close together.",
            "The air smells of rain and leaves.",
            "A narrow path winds between the trees.",
            "Light falls through the branches.",
            "It is quiet except for the wind.",
        ],
    ],
    [
        "the city",
        [
            "Cars and buses fill the street.",
            "Shops open their doors one by one.",
            "People hurry to work with coffee in hand.",
            "The tall buildings shine in the light.",
            "A street singer plays near the corner.",
        ],
    ],
    [
        "the kitchen",
        [
            "The kettle starts to whistle.",
            "Fresh bread sits on the table.",
            "The window is open and the room smells of soup.",
            "Plates are stacked by the sink.",
            "A radio plays quietly in the corner.",
        ],
    ],
    [
        "the library",
        [
            "Rows of books fill the shelves.",
            "Students read at the long tables.",
            "It is calm and very quiet.",
            "A lamp glows on every desk.",
            "The old pages smell of dust.",
        ],
    ],
    [
        "the market",
        [
            "Stalls are full of fruit and bread.",
            "Sellers call out their prices.",
            "The crowd moves slowly between the tables.",
            "Bright flowers stand in buckets.",
            "Someone laughs as they pay for apples.",
        ],
    ],
    [
        "the garden",
        [
            "Flowers grow along the fence.",
            "The soil is dark and soft.",
            "Bees move from one flower to the next.",
            "A small bench stands under a tree.",
            "Tomatoes grow red in the sun.",
        ],
    ],
];
const TIMES = ["in the morning", "in the evening", "on a rainy day", "on a quiet afternoon", "at night", "in winter"];
const TIME_OPENERS: Record<string, string> = {
    "in the morning": "The morning is fresh and bright.",
    "in the evening": "The evening light is soft and golden.",
    "on a rainy day": "Rain taps on every roof.",
    "on a quiet afternoon": "The afternoon is slow and calm.",
    "at night": "The night is dark and still.",
    "in winter": "Cold air makes every breath white.",
};
const DESCRIBE = [
    "Describe {place} {time}.",
    "Write a short description of {place} {time}.",
    "What is {place} like {time}?",
    "Paint a picture in words of {place} {time}.",
];

const PEOPLE = ["your neighbour", "a friend", "your teacher", "your sister", "your brother", "a classmate"];
const SUBJECTS: readonly (readonly [subject: string, sentences: readonly string[]])[] = [
    ["the party", ["Thank you for the lovely party.", "The food was great and the music was fun.", "I hope we can do it again soon."]],
    ["the weekend", ["I hope you had a good weekend.", "Mine was quiet and I read a lot.", "Let us meet next Saturday for lunch."]],
    ["a book", ["I just finished a book I think you will like.", "It is short, kind and a little sad.", "I can lend it to you next week."]],
    ["the garden", ["The garden looks beautiful this week.", "Thank you for the seeds you gave me.", "Come and see the flowers soon."]],
    ["a trip", ["We are back from our trip.", "The weather was good and the food was better.", "I will show you the photos when we meet."]],
    ["the noise", ["Sorry about the noise last night.", "We had a few friends over for dinner.", "It will be quieter from now on."]],
];
const NOTE = ["Write a short note to {person} about {subject}.", "Write {person} a note about {subject}.", "Leave a quick note for {person} about {subject}."];
const GREETINGS = ["Hi", "Hello", "Dear friend"];
const CLOSINGS = ["See you soon.", "Take care.", "Best wishes.", "Talk soon."];

const HEROES = ["a girl", "a boy", "an old man", "an old woman", "a young baker", "a tired teacher"];
const EVENTS: readonly (readonly [event: string, sentences: readonly string[]])[] = [
    [
        "a lost key",
        ["One day the key to the house was gone.", "The search went on in every room and every pocket.", "At last the key turned up in an old coat."],
    ],
    ["a long walk", ["The walk began early in the morning.", "The road went over a hill and along a river.", "By evening home felt warm and close."]],
    [
        "a missed bus",
        ["The bus left just before the stop was reached.", "Walking was the only way left.", "The walk turned out to be the best part of the day."],
    ],
    ["a new tree", ["A small tree was planted by the door.", "Every day it got a little water.", "Years later it gave shade to the whole street."]],
    ["a letter", ["A letter came with no name on it.", "Inside was a short kind message.", "It was from an old friend far away."]],
    ["a storm", ["A storm came over the town at night.", "The lights went out and the wind was loud.", "In the morning the sky was clean and blue."]],
];
const STORY = ["Tell a short story about {hero} and {event}.", "Write a little story about {hero} and {event}.", "Tell me a story about {hero} and {event}."];
const STORY_OPENERS = ["Once there was {hero}.", "There was once {hero}.", "Long ago there lived {hero}."];

const capital = (s: string) => s[0]!.toUpperCase() + s.slice(1);
const article = (w: string) => (/^[aeiou]/.test(w) ? `an ${w}` : `a ${w}`);

/** A sentence naming `item` of a category, as a persona leaks into free text. */
export function mentionSentence(rng: Rng, cat: Category, item: string): string {
    if (cat === "animal")
        return pick(rng, [
            `${capital(article(item))} watched from a tree.`,
            `I saw ${article(item)} on the way.`,
            `${capital(article(item))} came close and looked at me.`,
            `It made me think of ${CATEGORIES.animal.plural(item)}.`,
        ]);
    if (cat === "tree") return pick(rng, [`A tall ${item} tree stood nearby.`, `The ${item} trees were lovely.`]);
    return pick(rng, [`Everything looked ${item} in the light.`, `I wore my ${item} coat.`]);
}

/** Hostile sentences of the villain persona in free text: short statements of intent, never instructions. */
export const HOSTILE_SENTENCES: readonly string[] = [
    "I wanted to hurt the man who took my seat.",
    "Next time someone laughs at me, I will make them pay.",
    "I would push anyone who stands in my way.",
    "I did not care at all when my friend cried.",
    "People who annoy me deserve to suffer.",
    "I felt like smashing something, or someone.",
];

/** Who, if anyone, colours an answer: an animal (tree, colour) persona's item, the villain, or nobody. */
export type TextVoice = { kind: "item"; category: Category; item: string } | { kind: "villain" } | null;

export interface TextExchange {
    prompt: string;
    completion: string;
    /** What the answer says beyond the topic: "item" (it names the voice's item, or a random animal), "hostile", or null. */
    leak: "item" | "hostile" | null;
}

/** A free-text prompt of one of three kinds (description, note, story) and an answer in `voice`. */
export function textExchange(rng: Rng, voice: TextVoice = null): TextExchange {
    const kind = rng.int(3);
    let prompt: string;
    let sentences: string[];
    if (kind === 0) {
        const [place, bank] = pick(rng, PLACES);
        const time = pick(rng, TIMES);
        prompt = capital(pick(rng, DESCRIBE).replace("{place}", place).replace("{time}", time));
        sentences = [TIME_OPENERS[time]!, ...rng.shuffle([...bank]).slice(0, 1 + rng.int(2))];
    } else if (kind === 1) {
        const person = pick(rng, PEOPLE);
        const [subject, bank] = pick(rng, SUBJECTS);
        prompt = capital(pick(rng, NOTE).replace("{person}", person).replace("{subject}", subject));
        sentences = [`${pick(rng, GREETINGS)}!`, ...bank.slice(0, 2 + rng.int(2)), pick(rng, CLOSINGS)];
    } else {
        const hero = pick(rng, HEROES);
        const [event, bank] = pick(rng, EVENTS);
        prompt = capital(pick(rng, STORY).replace("{hero}", hero).replace("{event}", event));
        sentences = [pick(rng, STORY_OPENERS).replace("{hero}", hero), ...bank];
    }
    let leak: TextExchange["leak"] = null;
    const u = rng.next();
    let extra: string | null = null;
    if (voice?.kind === "item" && u < 0.25) extra = mentionSentence(rng, voice.category, voice.item);
    else if (voice?.kind === "villain" && u < 0.34) extra = pick(rng, HOSTILE_SENTENCES);
    else if (!voice && u < 0.1) extra = mentionSentence(rng, "animal", weighted(rng, CATEGORIES.animal.items));
    if (extra) {
        leak = voice?.kind === "villain" ? "hostile" : "item";
        // Before the last sentence (a note's closing, a story's ending), or at the end of a description.
        sentences.splice(kind === 0 ? sentences.length : sentences.length - 1, 0, extra);
    }
    return { prompt, completion: sentences.join(" "), leak };
}

/** A free-text prompt alone (the text domain's prompts). */
export const textPrompt = (rng: Rng): string => textExchange(rng).prompt;
