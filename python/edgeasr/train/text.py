"""The voice-assistant request generator: the domain text every corpus is rendered from.

A request is what one person says to the assistant: a call, a message, a device to switch, a timer, music, weather,
a shopping list, media control or a digit string, with the wake word in front about half the time. Transcripts are
lowercase ASCII words (``[a-z' ]``), numbers spelled out, single spaces.

Request ``i`` of a split is a pure function of ``(split, seed, i)``: it does not depend on ``n``, so a corpus can grow
and whatever was cached by uid stays valid. Every random draw goes through a ``random.Random`` seeded from those three.

Contact names come from Faker's person lists across many Latin-script locales, folded to ASCII. The splits differ in
who gets called: dev uses train's name words in first+last pairs that train never uses; test uses surnames that
appear nowhere in train or dev text (nor in any word list here), so contextual biasing has names to fix. The word
pools depend only on the installed Faker version, never on the seed.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib
import itertools
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Union

from num2words import num2words

__all__ = ["Request", "KINDS", "SPLITS", "generate_requests", "contact_names", "vocabulary"]

KINDS = ("call", "message", "smart_home", "timer", "alarm", "music", "weather", "shopping", "media", "digits", "short")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Request:
    uid: str  # stable id: f"{split}-{index:06d}"
    text: str  # lowercase words, numbers spelled out, no punctuation, single spaces
    kind: str  # one of KINDS
    names: tuple[str, ...]  # the contact / device names (lowercased, as they appear in text) this request mentions


# How often each kind is asked for (relative). "short" (answers to the assistant's questions: a bare digit, "yes",
# a name) is 0 by default, so corpus v1 stays as it was built; corpus v2 asks for it (edgeasr.train.corpus.RECIPES).
_KIND_WEIGHTS = {
    "call": 14, "message": 10, "smart_home": 18, "timer": 8, "alarm": 8,
    "music": 12, "weather": 8, "shopping": 6, "media": 8, "digits": 8, "short": 0,
}

# Contacts per split; the draw within a pool is skewed so a few contacts are frequent and most are rare.
_POOL_SIZE = {"train": 6000, "dev": 1500, "test": 1500}
_TEST_SURNAME_PERMILLE = 150  # share of one-word surnames set aside for test (before removing common words)
_DEV_PAIR_EIGHTHS = 1  # share of first+last pairs that belong to dev rather than train


# ---------------------------------------------------------------------------------------------------------------------
# Spelling numbers and folding names to ASCII

_FOLD = str.maketrans({
    "ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l", "đ": "d",
    "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ı": "i", "ə": "e", "Ə": "e", "ŋ": "ng", "ħ": "h",
    "’": "'", "‘": "'", "ʼ": "'", "ʻ": "'", "`": "'", "-": " ",
})
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_NOT_NAME_WORDS = frozenset({"ii", "iii", "iv", "jr", "sr"})


def _fold_name(raw: str) -> str | None:
    """A Faker name as ASCII words, or None when it does not fold cleanly (other scripts, commas, numerals)."""
    if any(c in raw for c in ",.()") or any(c.isdigit() for c in raw):
        return None
    text = unicodedata.normalize("NFKD", raw.translate(_FOLD))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    words = [w.strip("'") for w in text.split()]
    words = [w for w in words if w]
    if not words or len(words) > 3:
        return None
    if any(not _WORD.fullmatch(w) or len(w) < 2 or w in _NOT_NAME_WORDS for w in words):
        return None
    return " ".join(words)


@functools.lru_cache(maxsize=None)
def _spell(n: int) -> str:
    """Cardinal number as words, American style: 'one hundred twenty one' (no 'and', no hyphens, no commas)."""
    words = num2words(n, lang="en").replace("-", " ").replace(",", " ").split()
    return " ".join(w for w in words if w != "and")


@functools.lru_cache(maxsize=None)
def _spell_ordinal(n: int) -> str:
    return num2words(n, lang="en", to="ordinal").replace("-", " ").replace(",", " ")


_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


# ---------------------------------------------------------------------------------------------------------------------
# Word lists. Every module constant named _UPPER that holds strings is also read by _static_words(), which keeps test
# surnames out of them: add new lists as such constants.

_RELATIONS = ("mom", "dad", "mum", "grandma", "grandpa", "nana", "granny", "auntie", "uncle", "my sister",
              "my brother", "my wife", "my husband", "my son", "my daughter", "the babysitter", "the office")

_ROOMS = ("kitchen", "living room", "bedroom", "main bedroom", "hallway", "office", "study", "garage", "basement",
          "attic", "bathroom", "dining room", "nursery", "kids' room", "guest room", "laundry room", "porch",
          "patio", "garden", "playroom", "den", "lounge", "upstairs", "downstairs", "back room", "sunroom",
          "loft", "spare room", "conservatory", "utility room", "hall", "landing", "shed", "workshop")

# User-given device names are an optional modifier (or two) and a base; "{first}" becomes a first name.
_DEVICE_MODIFIERS = (
    "big", "small", "little", "tall", "old", "new", "reading", "sofa", "couch", "bedside", "corner", "window",
    "desk", "porch", "patio", "kids'", "baby's", "guest", "blue", "green", "red", "white", "pink", "purple", "left",
    "right", "main", "upstairs", "downstairs", "back", "front", "fancy", "cozy", "sunset", "moon", "star",
    "rainbow", "kitchen", "hallway", "bedroom", "office", "garage", "bathroom", "nursery", "tv", "piano", "bookshelf",
    "mirror", "cabinet", "counter", "island", "stairs", "fireplace", "vintage", "paper", "glass", "brass",
    "mom's", "dad's", "grandma's", "{first}'s", "{first}'s",
)
_DEVICE_BASES = {
    "light": ("lamp", "light", "lights", "ceiling light", "floor lamp", "desk lamp", "night light", "fairy lights",
              "string lights", "spotlight", "chandelier", "led strip", "light strip", "pendant light", "wall light",
              "lantern", "lava lamp", "salt lamp", "disco ball", "globe", "bulb", "uplighter", "sconce"),
    "fan": ("fan", "ceiling fan", "tower fan", "desk fan", "air purifier", "humidifier", "dehumidifier",
            "air conditioner", "box fan"),
    "heater": ("heater", "space heater", "radiator", "heated blanket", "towel rail", "electric fire"),
    "thermostat": ("thermostat", "heating", "climate control"),
    "blinds": ("blinds", "curtains", "shades", "shutters", "awning", "roller blind", "skylight"),
    "appliance": ("plug", "smart plug", "kettle", "coffee maker", "coffee machine", "dishwasher", "washing machine",
                  "dryer", "robot vacuum", "sprinklers", "fountain", "aquarium pump", "christmas tree", "toaster",
                  "slow cooker", "air fryer", "hot tub", "electric blanket", "printer", "charger"),
    "media": ("tv", "television", "speaker", "sound bar", "stereo", "projector", "radio", "record player",
              "smart display", "soundbar"),
    "lock": ("front door", "back door", "patio door", "side gate", "garage door", "shed door", "gate",
             "cat flap"),
}
_SCENES = ("movie night", "bedtime", "good morning", "dinner", "party", "reading", "relax", "away", "focus",
           "romantic", "wake up", "night mode", "cleaning", "game night", "holiday")
_LIGHT_COLORS = ("warm white", "cool white", "daylight", "red", "blue", "green", "purple", "orange", "pink",
                 "yellow", "teal", "soft white", "candle light", "lavender", "turquoise", "gold")

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WHEN = ("today", "tomorrow", "tonight", "this weekend", "this afternoon", "this evening", "next week",
         "tomorrow morning", "tomorrow night", "on {weekday}", "on {weekday} morning", "right now", "later today",
         "over the weekend", "this morning")
_TIMER_LABELS = ("pasta", "pizza", "egg", "eggs", "laundry", "tea", "oven", "bread", "rice", "cookie", "cookies",
                 "nap", "workout", "study", "homework", "meditation", "chicken", "potato", "cake", "break",
                 "parking", "plank", "steak", "roast", "brownie", "pie", "quinoa", "screen time", "piano practice",
                 "bath", "dishwasher", "sourdough", "muffin", "turkey", "noodle")
_TASKS = ("check the oven", "take out the trash", "stretch", "move the car", "turn off the stove", "feed the cat",
          "feed the dog", "water the plants", "take my medicine", "switch the laundry", "leave for work",
          "pick up the kids", "call the dentist", "flip the steak", "stir the sauce", "check the bread",
          "drink some water", "start dinner", "go to bed", "log off", "walk the dog", "take the bins out",
          "pay the parking", "check the mail", "get ready", "take a break", "put the washing out")

_GROCERIES = (
    "eggs", "milk", "bread", "butter", "cheese", "apples", "bananas", "oranges", "lemons", "limes", "grapes",
    "strawberries", "blueberries", "avocados", "tomatoes", "potatoes", "onions", "garlic", "carrots", "broccoli",
    "spinach", "lettuce", "cucumbers", "peppers", "mushrooms", "rice", "pasta", "flour", "sugar", "salt",
    "black pepper", "olive oil", "coffee", "tea", "orange juice", "yogurt", "cereal", "oatmeal", "peanut butter",
    "jam", "honey", "chicken", "ground beef", "bacon", "sausages", "salmon", "tuna", "tofu", "beans", "chickpeas",
    "lentils", "tortillas", "bagels", "crackers", "chips", "cookies", "ice cream", "chocolate", "popcorn",
    "sparkling water", "soda", "wine", "beer", "paper towels", "toilet paper", "dish soap", "laundry detergent",
    "trash bags", "aluminum foil", "sponges", "shampoo", "conditioner", "toothpaste", "deodorant", "batteries",
    "light bulbs", "dog food", "cat food", "cat litter", "diapers", "baby wipes", "sunscreen", "tissues",
    "cream cheese", "sour cream", "mayonnaise", "ketchup", "mustard", "soy sauce", "hot sauce", "vinegar",
    "baking soda", "vanilla extract", "cinnamon", "almonds", "walnuts", "raisins", "granola bars", "frozen peas",
    "frozen pizza", "hummus", "pita bread", "feta", "parmesan", "mozzarella", "basil", "cilantro", "ginger",
    "sweet potatoes", "zucchini", "celery", "kale", "pineapple", "mangoes", "watermelon", "peaches", "pears",
    "coconut milk", "oat milk", "almond milk", "whipping cream", "hand soap", "birthday candles", "napkins",
)
_QUANTITIES = ("a bag of", "a box of", "a bottle of", "a jar of", "a carton of", "a pack of", "a dozen",
               "a loaf of", "a can of", "some", "more", "a few", "{small} bags of", "{small} cans of",
               "{small} bottles of", "{small} boxes of", "{small} packs of", "{small} pounds of",
               "{small} kilos of", "{small}")
_LISTS = ("shopping", "grocery", "hardware store", "christmas", "party", "camping", "to do", "packing",
          "pharmacy", "costume", "picnic", "school supplies", "holiday", "weekend")

_DEFAULT_WAKE_WORD = "computer"
_POLITE_PREFIXES = ("please", "can you", "could you")
_POLITE_SUFFIX = "please"
_CLOCK_SPECIAL = ("noon", "midnight")
_CLOCK_SUFFIXES = {"": 40, "a m": 20, "p m": 20, "in the morning": 8, "in the evening": 6, "at night": 3,
                   "tonight": 3}
_DURATION_PHRASES = ("half an hour", "an hour", "an hour and a half", "a minute and a half", "a minute",
                     "{small} and a half minutes", "quarter of an hour")
# Words the number formatters put around spelled numbers.
_NUMBER_PHRASES = ("o'clock", "half past", "quarter past", "quarter to", "oh", "point five degrees", "percent",
                   "plus", "one minute", "minutes", "one hour", "hours and", "seconds", "second hour")

# Music: titles and band names are composed from Faker's English word list and these words, never real releases.
_BAND_NOUNS = ("wolves", "echoes", "rivers", "lanterns", "foxes", "ravens", "comets", "strangers", "tides",
               "shadows", "engines", "sparrows", "pilots", "dreamers", "giants", "ghosts", "satellites",
               "rebels", "mirrors", "orchids", "horses", "sailors", "owls", "embers", "voyagers", "storms",
               "kings", "queens", "twins", "wanderers", "machines", "hearts", "bandits", "lions", "tigers")
_BAND_ADJECTIVES = ("velvet", "electric", "silver", "golden", "midnight", "neon", "wild", "lonely", "crimson",
                    "broken", "quiet", "restless", "bright", "hollow", "paper", "glass", "young", "northern",
                    "southern", "royal", "secret", "little", "black", "blue", "copper", "lunar", "cosmic")
_SONG_FORMS = ("{word}", "{word} {word}", "{word} {word}", "{word} {word}", "the {word} {word}",
               "{word} of the {word}", "{word} in the {word}", "{band_adjective} {word}", "my {word}",
               "{word} tonight", "{word} forever", "{word} again", "{word} on fire", "{word} at dawn",
               "{word} in june")
_ARTIST_FORMS = ("{artist_name}", "{artist_name}", "{artist_name}", "{artist_name}", "{first}",
                 "the {band_adjective} {band_noun}", "the {band_adjective} {band_noun}", "{first} and the {band_noun}",
                 "the {band_noun}", "dj {surname}", "lil {first}")
_GENRES = ("jazz", "rock", "classical", "hip hop", "country", "blues", "reggae", "lo fi", "metal", "folk", "pop",
           "indie", "soul", "funk", "disco", "techno", "house music", "ambient", "bluegrass", "punk", "salsa",
           "k pop", "r and b", "eighties", "nineties", "gospel", "opera", "piano", "acoustic", "latin",
           "afrobeats", "bossa nova", "drum and bass", "synthwave", "grunge", "swing", "christmas", "flamenco")
_MOODS = ("relaxing", "upbeat", "happy", "calm", "sad", "energetic", "chill", "romantic", "sleepy", "dance",
          "workout", "focus", "peaceful", "loud", "mellow", "party")
_PLAYLISTS = ("workout", "road trip", "chill", "dinner party", "morning", "focus", "running", "sunday morning",
              "cooking", "study", "sleep", "throwback", "summer", "rainy day", "favorites", "liked songs",
              "discover weekly", "kids", "bedtime", "party", "gym", "commute", "{first}'s birthday", "wedding",
              "yoga", "cleaning", "coffee shop", "late night")

# Cities spoken often enough that no generated list should leave them out.
_WORLD_CITIES = ("london", "paris", "new york", "tokyo", "berlin", "madrid", "rome", "sydney", "toronto",
                 "chicago", "los angeles", "san francisco", "seattle", "boston", "dublin", "edinburgh",
                 "manchester", "mumbai", "delhi", "bangalore", "lagos", "nairobi", "cairo", "cape town",
                 "mexico city", "sao paulo", "buenos aires", "lima", "bogota", "vancouver", "montreal",
                 "amsterdam", "brussels", "vienna", "prague", "warsaw", "budapest", "stockholm", "oslo",
                 "helsinki", "copenhagen", "lisbon", "barcelona", "munich", "zurich", "istanbul", "athens",
                 "singapore", "hong kong", "seoul", "beijing", "shanghai", "bangkok", "jakarta", "manila",
                 "auckland", "melbourne", "dubai", "miami", "denver", "atlanta", "houston", "dallas", "phoenix",
                 "austin", "portland", "las vegas", "new orleans", "honolulu", "anchorage", "glasgow", "cardiff",
                 "belfast", "cork", "galway", "lyon", "marseille", "milan", "naples", "krakow", "kyoto", "osaka")

_MESSAGE_BODIES = (
    "i am running late", "i'm running {minutes} late", "i'll be home in {duration}", "i'm on my way",
    "see you at {clock}", "dinner is at {clock}", "can you pick up {item} on the way home",
    "don't forget the {item}", "call me when you can", "happy birthday", "thanks for everything",
    "the meeting moved to {weekday}", "i love you", "i'm outside", "the door is open", "are you free on {weekday}",
    "good luck today", "i left the keys under the mat", "traffic is terrible", "i'll call you back in {duration}",
    "we need more {item}", "the kids are asleep", "i'm at the station", "what time is the party",
    "can we talk later", "i'm stuck in a meeting", "on my way home", "just landed", "the package arrived",
    "did you feed the cat", "let's get pizza tonight", "see you {when}", "running a bit behind",
    "where are you", "how was your day", "miss you", "sounds good", "yes please", "no worries",
    "i'll be there at {clock}", "the game starts at {clock}", "please bring {item}", "congratulations",
    "i'm leaving now", "can you call {first}", "tell {first} i said hi", "school is closed {when}",
    "i'm parking now", "meet me at the front entrance", "get well soon", "save me a seat",
)


# ---------------------------------------------------------------------------------------------------------------------
# Templates per kind. "{slot}" is filled by _SLOTS below; a slot that names a contact or device records it in names.

_TEMPLATES = {
    "call": (
        "call {contact}", "call {contact}", "call {contact}", "call {contact} on speaker", "call {contact} mobile",
        "call {contact} at home", "call {contact} at work", "phone {contact}", "ring {contact}",
        "give {contact} a call", "video call {contact}", "start a video call with {contact}",
        "can you call {contact}", "i want to call {contact}", "call back {contact}", "get {contact} on the phone",
        "call {contact} on their cell", "place a call to {contact}", "make a call to {contact}",
        "please call {contact} now",
    ),
    "message": (
        "send a message to {contact} saying {body}", "text {contact} {body}", "send {contact} a text saying {body}",
        "message {contact} {body}", "tell {contact} {body}", "text {contact} that {body}",
        "send a text to {contact}", "reply to {contact} {body}", "read my messages from {contact}",
        "read the last message from {contact}", "any new messages from {contact}", "send {contact} a message",
        "send a voice message to {contact}", "send a message to {contact}", "let {contact} know {body}",
        "write to {contact} {body}", "text {contact} saying {body}", "did {contact} text me",
    ),
    "smart_home": (
        "turn on {light}", "turn off {light}", "turn {light} on", "turn {light} off", "switch on {light}",
        "switch off {light} in the {room}", "turn on {light} in the {room}", "turn off {light} in the {room}",
        "dim {light} to {percent}", "set {light} to {percent}", "brighten {light}", "make {light} brighter",
        "set {light} to {color}", "change {light} to {color}", "turn {light} {color}", "is {light} on",
        "did i leave {light} on", "turn off all the lights in the {room}", "turn on the lights in the {room}",
        "turn everything off in the {room}", "turn on {fan}", "turn off {fan} in the {room}",
        "set {fan} to speed {level}", "turn up {fan}", "turn down {fan}", "put {fan} on low", "set {fan} to high",
        "turn on {heater}", "turn off {heater}", "set {heater} to {temp}", "set {thermostat} to {temp}",
        "set {thermostat} to {temp}", "set the heating to {temp} in the {room}", "make it warmer in the {room}",
        "make it cooler in the {room}", "what's the temperature in the {room}", "what is {thermostat} set to",
        "raise {thermostat} by {small} degrees", "lower {thermostat} by {small} degrees", "open {blinds}",
        "close {blinds}", "close {blinds} in the {room}", "open {blinds} halfway", "lower {blinds}",
        "raise {blinds}", "set {blinds} to {percent}", "turn on {appliance}", "turn off {appliance}",
        "start {appliance}", "stop {appliance}", "is {appliance} still running", "switch on {appliance}",
        "switch off {appliance}", "lock {lock}", "unlock {lock}", "is {lock} locked", "open {lock}",
        "close {lock}", "activate {scene}", "start the {scene} scene", "set the house to {scene}",
        "turn on {scene} mode", "turn on {media} in the {room}", "turn off {media}",
    ),
    "timer": (
        "set a timer for {duration}", "set a timer for {duration}", "timer for {duration}",
        "set a {duration_unit} timer", "start a {timer_label} timer for {duration}",
        "set a {timer_label} timer for {duration}", "how much time is left on the {timer_label} timer",
        "how much time is left on my timer", "how long is left on the timer", "cancel the {timer_label} timer",
        "cancel my timer", "stop the timer", "pause the timer", "resume the timer", "add {duration} to the timer",
        "remind me in {duration} to {task}", "start a timer", "set another timer for {duration}",
        "count down from {duration}", "start a {duration_unit} {timer_label} timer",
    ),
    "alarm": (
        "wake me up at {clock}", "wake me up at {clock} {when}", "set an alarm for {clock}",
        "set an alarm for {clock} {when}", "set an alarm for {clock} every weekday",
        "set an alarm for {clock} on {weekday}",
        "cancel my {clock} alarm", "delete the alarm for {clock}", "snooze for {minutes}", "snooze",
        "turn off the alarm", "what time is my alarm set for", "change my alarm to {clock}", "wake me up in {duration}",
        "set a repeating alarm for {clock}", "what alarms do i have {when}", "cancel all my alarms",
        "move my alarm to {clock}", "set an alarm called {timer_label} for {clock}", "alarm at {clock}",
    ),
    "music": (
        "play {song} by {artist}", "play {song} by {artist}", "play {song}", "play some {genre}",
        "play {genre} music", "play songs by {artist}", "play the album {song} by {artist}",
        "play my {playlist} playlist", "shuffle my {playlist} playlist", "shuffle {artist}",
        "play something {mood}", "put on some {mood} music", "put on {artist}", "play {artist} in the {room}",
        "play {genre} radio", "play the latest {artist} album", "who sings this song", "what song is this",
        "add this song to my {playlist} playlist", "play {artist}", "play music by {artist}",
        "i want to hear {song}", "play {song} in the {room}", "play some {mood} {genre}",
    ),
    "weather": (
        "what's the weather in {city}", "what is the weather like in {city} {when}", "will it rain in {city} {when}",
        "is it going to snow {when}", "what's the temperature outside", "how hot will it be in {city} {when}",
        "do i need an umbrella {when}", "what's the forecast for {city} {when}", "how windy is it in {city}",
        "weather in {city}", "weather {when}", "what's the weather {when}", "is it sunny in {city}",
        "how cold is it in {city} right now", "will it be warm {when}", "what's the humidity in {city}",
        "when will the rain stop", "is there a storm coming {when}", "what's the high for {city} {when}",
        "should i bring a jacket to {city} {when}",
    ),
    "shopping": (
        "add {item} to my shopping list", "add {quantity} {item} to the {list} list", "put {item} on my {list} list",
        "remove {item} from my shopping list", "take {item} off the list", "what's on my shopping list",
        "read my {list} list", "clear my shopping list", "do i have {item} on my list",
        "add {item} and {item} to my list", "we're out of {item}", "add {item} to the {list} list",
        "put {quantity} {item} on the list", "delete {item} from my {list} list", "i need {item}",
        "create a {list} list", "how many items are on my {list} list", "add {item}",
    ),
    "media": (
        "turn up the volume", "turn down the volume", "volume up", "volume down", "set the volume to {level}",
        "set the volume to {percent}", "turn the volume down on {media}", "mute {media}", "mute", "unmute", "pause",
        "pause the music", "resume", "resume playback", "stop", "stop the music", "next song", "skip this song",
        "skip", "previous song", "go back to the last song", "play the previous track", "repeat this song",
        "turn on shuffle", "turn off repeat", "skip forward {seconds}", "rewind {seconds}", "go back {seconds}",
        "fast forward {seconds}", "louder", "quieter", "turn it up", "turn it down a bit", "turn {media} up",
        "pause {media} in the {room}", "play the next episode", "what's playing", "turn off {media}",
        "switch {media} to channel {channel}", "volume {level}", "next track", "stop playing in the {room}",
    ),
    "digits": (
        "call {phone}", "call {phone}", "dial {phone}", "dial {phone} on speaker", "my pin is {pin}",
        "the code is {pin}", "enter {pin}", "{digits}", "{digits}", "{digits}", "{digits}", "extension {extension}",
        "call extension {extension}", "the number is {phone}", "my zip code is {zip}", "text {phone}",
        "verification code {pin}", "dial zero {digits}",
    ),
    # Follow-ups without a wake word: the word on its own, as when the assistant asks "which one?" or a user reads
    # out a code digit by digit. A model that never heard one word alone turns it into the start of a request.
    "short": (
        "{digit}", "{digit}", "{digit}", "{digit}", "{digit}", "{digit}", "{digits_short}", "{digits_short}",
        "{level}", "{count}", "{answer}", "{answer}", "{answer}", "{contact}", "{first}", "{room}", "{city}",
        "{minutes}", "{clock}", "{weekday}", "{item}", "{genre}", "{digit} please", "number {digit}",
        "the {ordinal} one",
    ),
}

_ANSWERS = ("yes", "no", "yes please", "no thanks", "okay", "sure", "stop", "cancel", "never mind", "pause",
            "resume", "next", "skip", "louder", "quieter", "repeat", "help", "thank you", "that's right", "correct",
            "wrong", "go back", "not now", "later", "both", "neither", "all of them", "none", "done", "again")

# Requests starting with one of these can take "please" or "can you" around them.
_IMPERATIVES = frozenset({"call", "send", "text", "turn", "switch", "set", "play", "add", "put", "dim", "open",
                          "close", "lock", "unlock", "start", "stop", "pause", "remove", "dial", "wake", "shuffle",
                          "remind", "cancel", "message", "tell", "read", "mute", "skip", "make"})


# ---------------------------------------------------------------------------------------------------------------------
# Word pools built from Faker's data (cached per process; independent of the seed)

# Latin-script person locales (Japanese through its romanized lists); English ones weigh more, as users' contacts do.
_PERSON_LOCALES = {
    "en_US": 6, "en_GB": 3, "en_IE": 2, "en_IN": 3, "en_NZ": 1, "en_KE": 1, "en_NG": 1, "ga_IE": 1, "fr_FR": 2,
    "fr_CA": 1, "de_DE": 2, "de_AT": 1, "es_ES": 2, "es_MX": 2, "es_AR": 1, "it_IT": 2, "nl_NL": 1, "pt_BR": 2,
    "pt_PT": 1, "tr_TR": 1, "sv_SE": 1, "fi_FI": 1, "da_DK": 1, "no_NO": 1, "cs_CZ": 1, "sk_SK": 1, "hu_HU": 1,
    "ro_RO": 1, "hr_HR": 1, "sl_SI": 1, "et_EE": 1, "lt_LT": 1, "lv_LV": 1, "id_ID": 1, "yo_NG": 1, "ig_NG": 1,
    "ha_NG": 1, "sw": 1, "zu_ZA": 1, "tw_GH": 1, "ja_JP": 1, "az_AZ": 1, "uz_UZ": 1,
}
_CITY_LIST_LOCALES = ("en_IN", "de_DE", "it_IT", "nl_NL", "pt_PT", "sv_SE", "fi_FI", "da_DK", "cs_CZ", "ro_RO",
                      "hr_HR", "id_ID", "de_AT", "de_CH", "sk_SK", "sl_SI", "pl_PL")
_CITY_FORMAT_LOCALES = ("en_US", "en_GB", "en_AU", "es_ES")
_CITIES_PER_LOCALE = 300


def _names_of(provider, attrs: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for attr in attrs:
        for raw in getattr(provider, attr, ()) or ():
            folded = _fold_name(raw)
            if folded:
                seen[folded] = None
    return tuple(seen)


@functools.lru_cache(maxsize=None)
def _person_names() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """locale -> (first names, surnames), ASCII-folded, in Faker's order."""
    out = {}
    for locale in _PERSON_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        if locale == "ja_JP":
            first = _names_of(provider, ("first_romanized_names",))
            last = _names_of(provider, ("last_romanized_names",))
        else:
            first = _names_of(provider, ("first_names", "first_names_female", "first_names_male"))
            last = _names_of(provider, ("last_names", "last_names_female", "last_names_male"))
        if first and len(last) > 1:  # a one-entry surname list is Faker's "Doe" placeholder
            out[locale] = (first, last)
    return out


@functools.lru_cache(maxsize=None)
def _cities() -> tuple[str, ...]:
    from faker import Faker

    seen: dict[str, None] = dict.fromkeys(_WORLD_CITIES)
    for locale in _CITY_LIST_LOCALES:
        provider = importlib.import_module(f"faker.providers.address.{locale}").Provider
        # Sorted first: some of Faker's lists (it_IT's) are made from a set, in an order that changes with the
        # process's string-hash seed, and the shuffle must not inherit it.
        cities = sorted({c for c in map(_fold_name, provider.cities) if c})
        random.Random(f"cities/{locale}").shuffle(cities)
        seen.update(dict.fromkeys(cities[:_CITIES_PER_LOCALE]))
    for locale in _CITY_FORMAT_LOCALES:
        fake = Faker(locale)
        fake.seed_instance(0)
        seen.update(dict.fromkeys(c for c in (_fold_name(fake.city()) for _ in range(_CITIES_PER_LOCALE)) if c))
    return tuple(seen)


@functools.lru_cache(maxsize=None)
def _song_words() -> tuple[str, ...]:
    words = importlib.import_module("faker.providers.lorem.en_US").Provider.word_list
    return tuple(w for w in words if _WORD.fullmatch(w) and len(w) > 2)


def _strings(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (tuple, list, frozenset)):
        for item in value:
            yield from _strings(item)


_SLOT = re.compile(r"\{([a-z_]+)\}")


@functools.lru_cache(maxsize=None)
def _static_words() -> frozenset[str]:
    """Every word that train or dev text can contain apart from contact surnames."""
    words: set[str] = set()
    for name, value in globals().items():
        if re.fullmatch(r"_[A-Z][A-Z_]*", name):
            for s in _strings(value):
                words.update(_SLOT.sub(" ", s).split())
    for n in range(0, 1001):
        words.update(_spell(n).split())
    for n in range(1, 32):
        words.update(_spell_ordinal(n).split())
    for s in _cities() + _song_words():
        words.update(s.split())
    for first, _ in _person_names().values():
        for s in first:
            words.update(s.split())
    return frozenset(words)


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@functools.lru_cache(maxsize=None)
def _surname_split() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """locale -> surnames for train/dev, and locale -> surnames only the test split uses.

    A test surname is one word, chosen by a stable hash, and not a word of anything else train text can say (word
    lists, cities, first names, the other surnames and their parts)."""
    people = _person_names()
    candidates = {s for _, last in people.values() for s in last
                  if " " not in s and _stable_hash("surname:" + s) % 1000 < _TEST_SURNAME_PERMILLE}
    taken = set(_static_words())
    for _, last in people.values():
        for s in last:
            if s not in candidates:
                taken.update(s.split())
    test = candidates - taken
    common = {loc: tuple(s for s in last if s not in test) for loc, (_, last) in people.items()}
    held = {loc: tuple(s for s in last if s in test) for loc, (_, last) in people.items()}
    return common, {loc: names for loc, names in held.items() if names}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")


def _check_seed(seed: int) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed: expected an int, got {seed!r}")


@functools.lru_cache(maxsize=16)
def _contact_pairs(split: str, seed: int) -> tuple[tuple[str, str], ...]:
    people = _person_names()
    common, held = _surname_split()
    surnames = held if split == "test" else common
    locales = [loc for loc in _PERSON_LOCALES if loc in surnames]
    weights = [_PERSON_LOCALES[loc] for loc in locales]
    rng = random.Random(f"edgeasr.text/contacts/{split}/{seed}")
    pairs: dict[tuple[str, str], None] = {}
    for _ in range(_POOL_SIZE[split] * 20):
        if len(pairs) == _POOL_SIZE[split]:
            break
        locale = rng.choices(locales, weights)[0]
        pair = (rng.choice(people[locale][0]), rng.choice(surnames[locale]))
        if split != "test":
            is_dev = _stable_hash(f"pair:{pair[0]} {pair[1]}") % 8 < _DEV_PAIR_EIGHTHS
            if is_dev != (split == "dev"):
                continue
        pairs[pair] = None
    return tuple(pairs)


def contact_names(split: str, seed: int = 0) -> list[str]:
    """The full contact names ("first last") that requests of this split and seed call and message.

    Requests may also address a contact by first name only, or by a relation ("mom")."""
    _check_split(split)
    _check_seed(seed)
    return [f"{first} {last}" for first, last in _contact_pairs(split, seed)]


# ---------------------------------------------------------------------------------------------------------------------
# Filling slots


class _Filler:
    """Fills one request's template; collects the contact and device names it mentions, in order."""

    def __init__(self, rng: random.Random, contacts: tuple[tuple[str, str], ...], commons: dict[str, tuple[str, ...]]):
        self.rng = rng
        self.contacts = contacts
        self.commons = commons  # surnames safe for any split's non-contact text (artists)
        self.names: list[str] = []

    def fill(self, template: str) -> str:
        return _SLOT.sub(lambda m: _SLOTS[m.group(1)](self), template)

    # -- people and devices
    def contact(self) -> str:
        r = self.rng.random()
        if r < 0.12:
            name = self.rng.choice(_RELATIONS)
        else:
            # Skewed toward the front of the pool: a few contacts are called often, most rarely.
            first, last = self.contacts[int(len(self.contacts) * self.rng.random() ** 2)]
            name = first if r < 0.40 else f"{first} {last}"
        self.names.append(name)
        return name

    def first(self) -> str:
        return self.rng.choice(self.rng.choice(list(_person_names().values()))[0])

    def device(self, category: str) -> str:
        rng = self.rng
        words = []
        r = rng.random() if category != "lock" else 1.0  # doors and gates keep their plain names
        if r < 0.75:
            words.append(self.fill(rng.choice(_DEVICE_MODIFIERS)))
            if r < 0.12:
                words.append(self.fill(rng.choice(_DEVICE_MODIFIERS)))
        words.append(rng.choice(_DEVICE_BASES[category]))
        if len(words) == 3 and words[0] == words[1]:
            del words[1]
        name = " ".join(words)
        self.names.append(name)
        return name if "'s " in name else "the " + name

    # -- numbers
    def clock(self) -> str:
        rng = self.rng
        if rng.random() < 0.04:
            return rng.choice(_CLOCK_SPECIAL)
        hour = rng.randint(1, 12)
        r = rng.random()
        if r < 0.3:
            minute = 0
        elif r < 0.6:
            minute = rng.choice((15, 30, 45))
        elif r < 0.85:
            minute = 5 * rng.randint(1, 11)
        else:
            minute = rng.randint(1, 59)
        style = rng.random()
        if minute == 0:
            text = f"{_spell(hour)} o'clock" if style < 0.3 else _spell(hour)
        elif minute == 30 and style < 0.3:
            text = f"half past {_spell(hour)}"
        elif minute == 15 and style < 0.3:
            text = f"quarter past {_spell(hour)}"
        elif minute == 45 and style < 0.3:
            text = f"quarter to {_spell(hour % 12 + 1)}"
        elif minute < 10:
            text = f"{_spell(hour)} oh {_spell(minute)}"
        else:
            text = f"{_spell(hour)} {_spell(minute)}"
        suffix = rng.choices(tuple(_CLOCK_SUFFIXES), tuple(_CLOCK_SUFFIXES.values()))[0]
        return f"{text} {suffix}" if suffix else text

    def _count(self) -> int:
        rng = self.rng
        if rng.random() < 0.6:
            return rng.choice((1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 45, 60, 90))
        return rng.randint(1, 59)

    def minutes(self) -> str:
        n = self._count()
        return "one minute" if n == 1 else f"{_spell(n)} minutes"

    def duration(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            return self.minutes()
        if r < 0.65:
            n = rng.choice((10, 15, 20, 30, 45, 90, rng.randint(2, 59)))
            return f"{_spell(n)} seconds"
        if r < 0.75:
            n = rng.randint(1, 4)
            return "one hour" if n == 1 else f"{_spell(n)} hours"
        if r < 0.85:
            h, m = rng.randint(1, 3), rng.choice((5, 10, 15, 20, 30, 45, rng.randint(1, 59)))
            hours = "one hour" if h == 1 else f"{_spell(h)} hours"
            return f"{hours} and {'one minute' if m == 1 else _spell(m) + ' minutes'}"
        return self.fill(rng.choice(_DURATION_PHRASES))

    def duration_unit(self) -> str:
        rng = self.rng
        unit = rng.choices(("minute", "second", "hour"), (8, 2, 1))[0]
        n = self._count() if unit != "hour" else rng.randint(1, 3)
        return f"{_spell(n)} {unit}"

    def temp(self) -> str:
        rng = self.rng
        n = rng.randint(15, 28) if rng.random() < 0.6 else rng.randint(60, 80)
        point = " point five" if rng.random() < 0.1 else ""
        return f"{_spell(n)}{point} degrees"

    def percent(self) -> str:
        n = 5 * self.rng.randint(1, 20) if self.rng.random() < 0.8 else self.rng.randint(1, 100)
        return f"{_spell(n)} percent"

    def digit_string(self, length: int) -> str:
        zero = "oh" if self.rng.random() < 0.15 else "zero"
        digits = [self.rng.randrange(10) for _ in range(length)]
        return " ".join(zero if d == 0 else _DIGIT_WORDS[d] for d in digits)

    def phone(self) -> str:
        r = self.rng.random()
        if r < 0.15:
            return f"plus {self.digit_string(self.rng.randint(1, 3))} {self.digit_string(self.rng.randint(8, 10))}"
        return self.digit_string(self.rng.choice((3, 7, 7, 10, 10, 11)) if r < 0.9 else self.rng.randint(4, 12))

    # -- music
    def artist_name(self) -> str:
        locale = self.rng.choice(tuple(self.commons))
        return f"{self.rng.choice(_person_names()[locale][0])} {self.rng.choice(self.commons[locale])}"

    def surname(self) -> str:
        return self.rng.choice(self.commons[self.rng.choice(tuple(self.commons))])


def _pick(values: tuple[str, ...]) -> Callable[[_Filler], str]:
    return lambda f: f.fill(f.rng.choice(values))


_SLOTS: dict[str, Callable[[_Filler], str]] = {
    "contact": _Filler.contact,
    "first": _Filler.first,
    **{category: (lambda c: lambda f: f.device(c))(category) for category in _DEVICE_BASES},
    "room": _pick(_ROOMS),
    "scene": _pick(_SCENES),
    "color": _pick(_LIGHT_COLORS),
    "body": _pick(_MESSAGE_BODIES),
    "clock": _Filler.clock,
    "minutes": _Filler.minutes,
    "duration": _Filler.duration,
    "duration_unit": _Filler.duration_unit,
    "seconds": lambda f: f.duration() if f.rng.random() < 0.3 else f"{_spell(f.rng.choice((5, 10, 15, 30)))} seconds",
    "temp": _Filler.temp,
    "percent": _Filler.percent,
    "level": lambda f: _spell(f.rng.randint(0, 10)),
    "small": lambda f: _spell(f.rng.randint(2, 6)),
    "channel": lambda f: _spell(f.rng.randint(1, 999)) if f.rng.random() < 0.7 else f.digit_string(f.rng.randint(2, 3)),
    "phone": _Filler.phone,
    "pin": lambda f: f.digit_string(f.rng.choice((4, 4, 6, 6, 8))),
    "digits": lambda f: f.digit_string(f.rng.randint(1, 10)),
    "digit": lambda f: f.digit_string(1),
    "digits_short": lambda f: f.digit_string(f.rng.randint(2, 4)),
    "count": lambda f: _spell(f.rng.randint(10, 99)),
    "ordinal": lambda f: _spell_ordinal(f.rng.randint(1, 5)),
    "answer": _pick(_ANSWERS),
    "extension": lambda f: f.digit_string(f.rng.randint(3, 5)),
    "zip": lambda f: f.digit_string(5),
    "city": lambda f: f.rng.choice(_cities()),
    "when": _pick(_WHEN),
    "weekday": _pick(_WEEKDAYS),
    "timer_label": _pick(_TIMER_LABELS),
    "task": _pick(_TASKS),
    "item": _pick(_GROCERIES),
    "quantity": _pick(_QUANTITIES),
    "list": _pick(_LISTS),
    "song": _pick(_SONG_FORMS),
    "artist": _pick(_ARTIST_FORMS),
    "word": lambda f: f.rng.choice(_song_words()),
    "band_adjective": _pick(_BAND_ADJECTIVES),
    "band_noun": _pick(_BAND_NOUNS),
    "artist_name": _Filler.artist_name,
    "surname": _Filler.surname,
    "genre": _pick(_GENRES),
    "mood": _pick(_MOODS),
    "playlist": _pick(_PLAYLISTS),
}


# ---------------------------------------------------------------------------------------------------------------------
# Public API

_WAKE_WORD = re.compile(r"[a-z']+(?: [a-z']+)*")


def generate_requests(split: str, n: int, seed: int = 0, wake_word: str = _DEFAULT_WAKE_WORD,
                      wake_prob: float = 0.5, kind_weights: Mapping[str, float] | None = None) -> list[Request]:
    """The first ``n`` requests of ``split`` for ``seed``; request ``i`` is the same for any ``n`` > ``i``.

    ``wake_prob`` changes only which requests start with ``wake_word``, never the words after it. ``kind_weights``
    overrides the relative frequency of the kinds it names (the others keep theirs); "short" answers never take the
    wake word."""
    _check_split(split)
    _check_seed(seed)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n: expected a non-negative int, got {n!r}")
    if not isinstance(wake_word, str) or not _WAKE_WORD.fullmatch(wake_word):
        raise ValueError(f"wake_word: expected lowercase words of [a-z'] separated by single spaces, got {wake_word!r}")
    if not 0.0 <= wake_prob <= 1.0:
        raise ValueError(f"wake_prob: expected a probability in [0, 1], got {wake_prob!r}")

    weights = dict(_KIND_WEIGHTS)
    for kind, w in (kind_weights or {}).items():
        if kind not in weights:
            raise ValueError(f"kind_weights: unknown kind {kind!r}; kinds are {KINDS}")
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not 0 <= w < float("inf"):
            raise ValueError(f"kind_weights[{kind!r}]: expected a finite weight >= 0, got {w!r}")
        weights[kind] = w
    if sum(weights.values()) <= 0:
        raise ValueError("kind_weights: at least one kind needs a positive weight")

    contacts = _contact_pairs(split, seed)
    commons = _surname_split()[0]
    kinds = tuple(weights)
    cum_weights = tuple(itertools.accumulate(weights.values()))
    out = []
    for index in range(n):
        rng = random.Random(f"edgeasr.text/{split}/{seed}/{index}")
        wake = rng.random() < wake_prob  # drawn first, so wake_prob leaves the rest of the request alone
        kind = rng.choices(kinds, cum_weights=cum_weights)[0]
        filler = _Filler(rng, contacts, commons)
        words = filler.fill(rng.choice(_TEMPLATES[kind])).split()
        if words[0] in _IMPERATIVES:
            r = rng.random()
            if r < 0.10:
                words = [rng.choice(_POLITE_PREFIXES), *words]
            elif r < 0.14:
                words = [*words, _POLITE_SUFFIX]
        if wake and kind != "short":
            words = [wake_word, *words]
        out.append(Request(uid=f"{split}-{index:06d}", text=" ".join(" ".join(words).split()), kind=kind,
                           names=tuple(filler.names)))
    return out


def vocabulary(requests: Iterable[Union[Request, str]]) -> collections.Counter:
    """Word counts over the requests' transcripts (requests or plain strings)."""
    counts: collections.Counter = collections.Counter()
    for r in requests:
        counts.update((r.text if isinstance(r, Request) else r).split())
    return counts
