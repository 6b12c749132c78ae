"""Seeds the tag catalogue (slugs are part of the protocol) and the first triage rules.

After this migration the catalogue is data: staff edit it in the admin.
Priorities: 0 urgent, 1 high, 2 normal.
"""

from django.db import migrations

TAGS = [
    # slug, name, priority, red flag, description
    ("leaking", "Bladder leaking", 2, False,
     "Urine leakage: with coughing, sneezing, laughing, lifting, running, jumping, urgency."),
    ("bowel", "Bowel symptoms", 1, False,
     "Wind or stool leakage, urgency, constipation after birth."),
    ("pelvic-tension", "Pelvic floor tension", 2, False,
     "An overactive, tight or hypertonic pelvic floor, trouble relaxing it, down-training."),
    ("prolapse", "Prolapse symptoms", 1, False,
     "Heaviness, dragging, pressure, a bulge or something falling out."),
    ("diastasis", "Diastasis recti", 2, False,
     "Separated abdominals, a gap, doming or coning."),
    ("pelvic-pain", "Pelvic pain", 1, False,
     "Pain in the pelvis, pubic bone, tailbone, hips or perineum (not during sex)."),
    ("painful-sex", "Painful sex", 2, False, "Pain with intercourse or penetration."),
    ("c-section", "Caesarean birth", 2, False, "A caesarean birth, its scar or incision."),
    ("return-to-running", "Return to running", 2, False, "Running, jogging, races."),
    ("exercise-return", "Return to exercise", 2, False,
     "Returning to gym, lifting, impact classes, sport (other than running)."),
    ("postpartum-mood", "Postpartum mood", 1, False,
     "Low mood, anxiety, overwhelm, crying, trouble bonding, intrusive thoughts."),
    ("red-flag", "Red flag", 0, True,
     "An urgent maternal warning sign: the member is told to seek care now and staff are alerted."),
]

# Phrases in the language documented in routing/triage.py ("/" separates
# alternatives for one word; a hyphen joins the words of a longer alternative).
# Per tag:
#   "match"   add the tag; cancelled by negation and other context ("no fever")
#   "always"  add the tag whatever the context: the phrase carries its own negation
#             ("can't breathe"), or a missed case costs too much (self-harm)
#   "exclude" cancel the tag's matches that share a word with it ("breast milk leaking")
SELF_HARM = [
    "kill/killing myself", "end/ending my life", "end/ending it all", "take my own life",
    "suicid*", "hurt/hurting/harm/harming/cut/cutting myself", "self harm*",
    "better off without me", "better off if i wasn't/weren't/was/were",
    "better/happier/easier [off] without me", "no-one/nobody would care/notice",
    "better/happier with someone else", "better off with someone else",
    "if i wasn't/weren't here/around/alive", "if i was/were gone/dead",
    "don't want to be here/alive/around", "don't want to exist/live", "don't want to wake up",
    "never wake up", "wish ... wouldn't/didn't/never wake up",
    "point in/of being-alive/living/going-on/carrying-on/existing", "no point living/existing",
    "if i disappeared/died/vanished", "want to die", "wish i was/were dead", "wish i wasn't/weren't here/alive",
    "want to disappear", "disappear forever", "could just disappear",
    "no-one/nobody would miss me", "no-one/nobody would care if i",
    "want it all to stop/end", "want it to stop/end for good",
    "can't go on like-this/anymore/any-more/any-longer",
    "how many paracetamol/pills/tablets", "overdose", "driv* ... into a wall/tree/lorry/truck",
    "jump off a/the bridge/building/roof/cliff/balcony",
    "in front of a/the bus/train/car/lorry/truck/traffic", "walk into traffic",
    "take/taking all my/the pills/tablets/meds", "sleep forever", "sleep and never",
    "hurt/hurting/harm/harming/smother/smothering/suffocate/suffocating/shake/shaking/drown/"
    "drowning [the/my] baby/him/her/son/daughter/kids/children/little-one",
    "hurt/hurting/harm/harming my son/daughter/kids/children/little-one",
    "urge/urges to hurt/harm",
    "thoughts of/about hurting/harming",
]

RULES = {
    "leaking": {
        "match": [
            "leak*", "leaking", "incontinen*", "wet myself", "wet my pants/knickers/underwear/trousers",
            "wetting myself", "pee/peed/peeing/wee/weed/weeing/piddle myself",
            "bladder weakness", "weak bladder", "bladder control", "dribbl*",
            "urge to pee/wee/urinate", "urgent need to pee/wee", "bladder urgency",
            "can't hold my pee/wee/urine/bladder", "cross my legs", "urgency",
            "desperate for the loo/toilet/a-wee/a-pee", "make it to the toilet/loo/bathroom",
            "bit of pee/wee/urine", "drops of pee/wee/urine", "pee/wee/urine come*/came out",
            "pee/peed/peeing/wee/weed/weeing ... sneez*/cough*/laugh*/jump*/lift*/run/running/"
            "skipping/trampoline",
            "sneez*/cough*/laugh* ... pee/peed/wee/weed",
        ],
        "exclude": [
            "breast*/boob*/nipple*/milk ... leak*", "leak* ... breast*/boob*/milk/colostrum",
            "nappy/nappies/diaper*/roof/tap/bottle* ... leak*", "leak* ... nappy/nappies/diaper*",
            "leak* ... pus/blood/fluid/poo/poop/pooed/stool/faeces/feces/wind/gas",
            "wound/scar/incision/stitches/cut ... leak*",
            "poo/poop/pooed/stool/stools/faeces/feces/wind/gas/blood/pus ... leak*",
            "faecal/fecal/bowel/anal/stool incontinen*", "dribbl* ... teeth/teething/chin",
            "bowel/faecal/fecal/stool urgency",
        ],
    },
    "bowel": {
        "match": [
            "constipat*", "stool/stools", "stool softener*",
            "poo/poos/pooed/pooing/poop/poops/pooped/pooping/poo'd", "bowel*", "fart*", "gassy",
            "control/controlling/pass/passing/hold/holding/release ... wind/gas",
            "wind/gas ... escape*", "wind/gas ... slips/comes/came out", "faecal/fecal",
            "faeces/feces", "diarrh*", "piles", "haemorrhoid*/hemorrhoid*",
            "strain* ... toilet/loo", "bunged up", "laxative*",
            "haven't/hasn't/not ... poo/pooed/pooped/bowel-movement", "haven't/hasn't/not pooed/pooped/been-for-a-poo/had-a-poo",
        ],
        "exclude": [
            "gas and air", "step/foot/bar/feeding/nursing stool",
            "nappy/nappies/diaper* ... poo/poos/poop/pooed", "poo/poop ... nappy/nappies/diaper*",
        ],
    },
    "pelvic-tension": {
        "match": [
            "hypertonic", "overactive pelvic floor", "tight pelvic floor",
            "pelvic floor ... tight/tense/tension/clench*/overactive/too-strong",
            "relax* ... pelvic floor", "release ... pelvic floor",
            "pelvic floor ... relax*/release/let-go", "grip*/gripping ... pelvic floor",
            "pelvic floor ... switched-on", "let go down there/below",
            "holding tension", "tension down there/below", "kegel*", "reverse kegel*",
            "down-training/downtraining", "pelvic floor exercise*/squeez*/contraction*",
            "clench* ... pelvic floor", "clenched shut", "vaginismus",
        ],
    },
    "prolapse": {
        "match": [
            "prolaps*", "heaviness", "heavy feeling/sensation",
            "feel*/felt heavy ... down-there/down-below/vagina*/pelvis/pelvic-floor/inside",
            "heavy down there/below", "dragging",
            "heavy/heaviness/weight ... down-there/down-below/vagina*",
            "pelvic floor ... heavy/heaviness/dragging",
            "insides ... drop*/falling/coming-down/slipping",
            "feel*/see ... something ... vagina*/entrance/opening", "drag* sensation/feeling", "bulg*",
            "falling out", "something ... coming/falling down/out", "coming down inside",
            "pressure ... down-there/down-below/vagina*/pelvis/pelvic-floor/bottom",
            "pessary/pessaries", "cystocele", "rectocele", "sitting on a [golf] ball/egg",
            "tampon ... slipping/falling", "lump/ball ... vagina*/entrance",
        ],
        "exclude": [
            "heaviness/heavy ... chest/legs/arms/head/eyes", "hair ... falling out",
            "bulg* ... tummy/belly/stomach/abs/belly-button/navel/scar",
            "tummy/belly/stomach/navel ... bulg*", "dragging myself/me", "dragging the pram/buggy",
        ],
    },
    "diastasis": {
        "match": [
            "diastasis", "dr check/test/gap/separation/rehab", "ab/abs/abdominal* separation",
            "separat* ... abs/ab/stomach/tummy/abdominal*/core/muscles",
            "split abs", "abs ... split", "finger* gap/width/separation",
            "gap ... abs/ab/tummy/stomach/belly/abdominal*/muscles/belly-button/navel/core",
            "abs/ab/tummy/stomach/belly/core ... gap", "doming/domes/domed/dome", "coning/cones/coned/cone",
            "ridge ... middle/tummy/belly/stomach/abs", "triangle ... tummy/belly/stomach/abs",
            "tummy/belly/stomach ... triangle/ridge/middle",
        ],
    },
    "pelvic-pain": {
        "match": [
            "pelvic pain", "pelvic girdle", "pgp", "spd", "symphysis", "pubic bone/symphysis",
            "pelvis/pelvic/pubic ... pain*/ache*/aching/hurt*/sore/tender/bruised",
            "pain*/ache*/aching/hurt*/sore/tender ... pelvis/pelvic-bone/pubic/groin",
            "tailbone/coccyx/tail-bone",
            "hip/hips ... pain*/ache*/aching/hurt*/sore", "pain*/aching/achy/sore ... hip/hips",
            "groin ... pain*/hurt*/ache*",
            "perine* ... sore/pain*/hurt*/tender/ache*/aching/bruis*/sting*/burn*/throb*",
            "sore/pain*/hurt*/tender/aching/bruis*/sting* ... perine*",
            "stitches ... sore/hurt*/pain*/tender/sting*", "sore/painful ... stitches",
            "pull* on my stitches", "tear ... hurt*/sore/pain*/sting*",
            "episiotomy ... pain*/sore/hurt*", "sore down below/there", "si joint", "sacroiliac",
            "vulva/vagina* ... bruis*/sore/pain/aches/aching/hurts",
            "bruis*/sore ... vulva/vagina*/tailbone/coccyx",
        ],
        "exclude": [
            "pubic hair",
            "sex/intercourse/penetration/tampon* ... pain*/hurt*/sore/ache*/aching/tender",
            "pain*/hurt*/sore/ache*/aching/tender ... sex/intercourse/penetration/tampon*",
        ],
    },
    "painful-sex": {
        "match": [
            "painful sex", "sex ... hurt*/pain*/agony/sore/burn*/sting*/uncomfortable/discomfort",
            "sex ... tearing/raw",
            "pain*/hurt*/sore/burn*/sting*/uncomfortable ... sex/intercourse/penetration",
            "intercourse ... hurt*/pain*/agony/sore/burn*/sting*/uncomfortable",
            "dyspareunia", "vaginismus", "penetration", "tampon* ... hurt*/pain*/sore",
        ],
    },
    "c-section": {
        "match": [
            "c-section/csection/c-sec/csec", "caesar*/cesar*", "section scar/wound",
            "elective/emergency/planned/crash section", "my section", "section", "scar/scars", "incision", "vbac",
            "the/my op/operation", "bikini line", "scar* ... bikini",
        ],
        "exclude": [
            "caesar salad", "section of/in/on/about/for", "which/this/that/next/each section",
            "episiotomy/perineal/perineum/tear/tears/stitches ... scar*", "scar* ... tear/perine*",
            "scar tissue ... tear/perine*/episiotomy",
        ],
    },
    "return-to-running": {
        "match": [
            "run", "runs", "running", "ran", "runner*", "jog*", "5k/10k/3k/parkrun/c25k",
            "park run", "couch to 5k", "marathon*", "race/races", "treadmill", "walk run",
        ],
        "exclude": [
            "run*/ran ... toilet/loo/bathroom/shop/shops/errands",
            "run*/ran out", "run*/ran late", "running on", "running around/about",
            "running a [<temp>] temp*/fever", "heart ... race/races/raced/racing", "running down",
            "run/running/ran away", "run/running/ran into", "runs/running in the/my family", "run down", "run the bath",
            "run through", "run by", "long run", "nose ... running", "run after the bus",
        ],
    },
    "exercise-return": {
        "match": [
            "gym", "crossfit/cross-fit", "hiit", "weights", "weight/strength/circuit training",
            "weightlifting", "lift*/lifting weights", "lifting heavy", "deadlift*", "squat*",
            "bootcamp/boot-camp", "burpee*", "box jumps", "star jumps", "jumping jacks",
            "netball/tennis/football/hockey/rugby/basketball/volleyball/badminton/golf",
            "cycling", "spin/spinning class*", "swim/swimming", "pilates", "yoga", "zumba",
            "aerobics", "barre", "horse riding", "rock/wall climbing", "bouldering",
            "rowing machine", "dance class*",
            "fitness class*", "exercise class*", "workout*", "work out", "plank*",
            "sit-ups/situps", "crunches", "press-ups/push-ups/pushups", "sport/sports",
            "exercise/exercising", "kettlebell*/dumbbell*/barbell*", "lunges", "leg raises",
            "resistance band*",
        ],
        "exclude": [
            "pelvic-floor/kegel/breathing/physio/rehab exercise/exercising",
            "head ... swimming", "swimming ... head", "golf ball",
        ],
    },
    "postpartum-mood": {
        "match": [
            "low mood", "feel*/feeling/felt [so/really/very] low/down",
            "constant/always/non-stop worry*", "can't switch off",
            "worried/worry/worrying/scared/anxious/panicking/terrified all the time",
            "constantly worried/scared/terrified/on-edge", "i'm drowning",
            "so/really/super/very/pretty low", "hate myself", "feel/feeling nothing",
            "all over the place",
            "snap/snapping at", "don't/can't feel anything",
            "anxious", "anxiety", "panic/panicky/panicking", "worried all the time", "overwhelm*",
            "cry/cries/cried/crying", "teary/tearful", "in tears", "depress*",
            "pnd/ppd", "postnatal/postpartum/post-natal/post-partum depression",
            "baby blues", "not coping", "can't cope", "struggling to cope",
            "not myself", "don't feel like myself/me", "failing ... mum/mom/mother/her/him/baby",
            "i'm failing", "failure", "terrible/bad/awful/rubbish/useless mum/mom/mother",
            "can't bond", "not bonding", "bonded", "no bond", "bond with",
            "don't/didn't feel bonded/connected/attached",
            "intrusive thought*", "scary thoughts", "rage", "angry", "irritable",
            "feel* numb", "numb to", "emotionally numb", "feel* flat", "guilt/guilty",
            "dread", "hopeless", "worthless", "lonely", "isolated", "no joy",
            "brings me joy", "struggling mentally", "mental health", "can't face",
            "getting me down", "sad", "miserable", "burden", "what's the point",
        ],
        "always": SELF_HARM,
        "exclude": [
            "numb* ... scar/leg/legs/bum/thigh*/vagina/bottom/hands/fingers/feet",
            "scar/leg/legs/bum/thigh*/vagina/bottom/hands/fingers/feet ... numb*",
            "overwhelming exhaustion/tiredness/fatigue/pain", "feel*/feeling/felt down there/below",
            "supply/iron/ferritin/bp/pressure/sugar/sugars/risk ... low",
            "low supply/iron/ferritin/bp/pressure/risk", "low milk supply",
        ],
    },
    "red-flag": {
        "match": [
            # heavy bleeding, large clots
            "heavy bleeding", "bleed*/bled ... heavy/heavily/heavier/loads/so-much",
            "soak*/soaking ... pad/pads/maxi*/towel*/through",
            "pad/pads ... an/every/each/per/one/1 hour", "pad/pads ... mins/minutes/half-hour",
            "bled/bleed* through", "large/big/huge/massive/giant clot*",
            "clot* ... golf-ball/plum/lemon/fist/egg/palm/size-of/bigger-than/as-big-as",
            "haemorrhag*/hemorrhag*", "pour*/gush* ... blood", "blood ... pour*/gush*",
            "lot/lots/loads/so-much of blood", "so much blood", "blood ... running-down/everywhere", "massive/big/huge/heavy bleed", "blood clot",
            "clot in my leg/calf/lung",
            # fever
            "fever*", "high temp*", "have/has/got/with/running a temp/temperature",
            "<fever-temp>",
            # chest pain, racing heart
            "chest pain*", "chest ... hurt*/pain*/tight*/pressure/ache*/aching/sore",
            "pain*/tight*/pressure ... chest", "middle of my chest",
            "heart ... racing/races/raced/race/pounding/palpitat*/fluttering/beating-fast",
            "heart ... beat*/beating ... fast/quick*/hard",
            "palpitation*", "racing heart",
            # breathing
            "trouble/difficulty/struggling/struggle/hard/difficult ... breathe/breathing/breath",
            "short of breath", "shortness of breath", "breathless*", "out of breath", "gasping",
            "struggling for breath/air",
            # headache, vision
            "severe/worst/terrible/awful/bad/excruciating/splitting/pounding/blinding/horrendous/"
            "horrific/unbearable/thumping/crippling/killer/agonising/agonizing ... headache*/"
            "head-ache/migraine*",
            "headache*/migraine* ... worse/won't-go-away/not-going-away/not-touching",
            "headache*/migraine* ... unbearable/horrendous/worst/severe/awful/excruciating/"
            "agonising/agonizing/killing",
            "blurry/blurred/blurring vision", "blurry/blurred/blurring/blurriness",
            "eyesight/sight ... blurry/blurred/gone/funny/weird/fuzzy/changes/problems",
            "everything ... fuzzy", "vision ... blurry/blurred/gone/funny/weird/changes/"
            "problems", "seeing ... spots/stars/flashing/flashes/double/sparkl*/lights/zigzag*", "double vision",
            "spots in front of my eyes", "flashing lights", "can't see properly",
            # dizziness, fainting
            "faint/fainted/fainting/faints", "pass*/passed out", "black*/blacked out",
            "lightheaded", "light headed", "dizzy", "dizziness", "room spin*/spinning",
            "collapse/collapsed/collapsing",
            # swelling of hands or face; a swollen, red or painful leg
            "face/hands/fingers ... swollen/swelling/puffy/swelled",
            "swollen/swelling/puffy ... face/hands/fingers", "can't get my rings off",
            "rings won't/don't come-off/fit",
            "face/hands/fingers ... puffed",
            "calf/calves ... swollen/red/hot/painful/pain/tender/sore/warm/throbbing",
            "swollen/painful/pain/red/hot/tender ... calf/calves",
            "leg/legs ... swollen/swelling/red/hot/bigger/warm",
            "swollen/swelling/red/hot ... leg",
            # severe belly pain
            "severe/excruciating/agonising/agonizing/unbearable/extreme/bad ... stomach/tummy/"
            "belly/abdominal/abdomen ... pain/ache/cramp*",
            "severe/excruciating/agonising/agonizing/unbearable/extreme ... pain/cramp*/ache ... "
            "stomach/tummy/belly/abdomen",
            "stomach/tummy/belly/abdominal pain ... worse/severe/unbearable/excruciating/"
            "agonising/agonizing/doubled",
            # overwhelming exhaustion
            "overwhelming/extreme/severe exhaustion/tiredness/fatigue",
            "exhausted ... barely/can't-function/can't-stand/can't-get-out-of-bed",
            "too exhausted to", "can't keep my eyes open",
            # a wound that is hot, oozing or opening
            "wound/scar/incision/stitches/episiotomy ... ooz*/pus/weeping/hot/open*/gaping/"
            "smell*/infected/leaking/come-apart/came-apart/coming-apart",
            "ooz*/pus/weeping ... wound/scar/incision/stitches", "pus",
            # saddle numbness
            "numb* ... bum/bottom/vagina/vulva/perineum/thigh*/genitals/saddle/anus/"
            "down-there/down-below/back-passage",
            "bum/bottom/vagina/thighs ... numb*",
        ],
        "always": SELF_HARM + [
            "can't/couldn't/unable-to/not-able-to breathe/breath",
            "can't/couldn't catch my breath", "can't get enough air/breath",
            "can't/won't stop bleeding", "bleed* ... won't/hasn't/doesn't/isn't stop*",
            "not stop* bleeding",
            "can't/couldn't/unable-to/not-able-to pee/wee/urinate",
            "haven't/hasn't been able to pee/wee/urinate",
            "haven't/hasn't peed/weed/urinated", "pee/wee/urinate ... nothing comes/came out",
            "haven't/hasn't/not passed urine/water/a-wee", "not been able to pee/wee/urinate",
            "need*/needing to pee/wee/urinate but nothing/can't",
        ],
        "exclude": [
            "baby/cabin/spring fever", "faintest", "faint line/positive",
            "racing/pounding ... after/during ... run/jog*/class/workout/gym/spin/exercise/training",
            "heart ... after/during ... run/jog*/class/workout/gym/spin/exercise/training",
            "out of breath ... run/running/jog*/class/workout/gym/spin/exercise/training",
        ],
    },
}


def rule_rows():
    """(tag slug, phrase, kind, negatable) for every rule, as `seed` stores them (a
    repeated phrase keeps its last entry); tests restore the catalogue from these too."""
    rows = {}
    for slug, *_ in TAGS:
        rules = RULES.get(slug, {})
        for kind, negatable, phrases in (
            ("match", True, rules.get("match", [])),
            ("match", False, rules.get("always", [])),
            ("exclude", False, rules.get("exclude", [])),
        ):
            for phrase in phrases:
                rows[slug, phrase, kind] = negatable
    return [(slug, phrase, kind, negatable) for (slug, phrase, kind), negatable in rows.items()]


def seed(apps, schema_editor):
    Tag = apps.get_model("routing", "Tag")
    TriageRule = apps.get_model("routing", "TriageRule")
    tags = {}
    for slug, name, priority, red_flag, description in TAGS:
        tags[slug], _ = Tag.objects.update_or_create(
            slug=slug,
            defaults={"name": name, "priority": priority, "is_red_flag": red_flag,
                      "description": description},
        )
    for slug, phrase, kind, negatable in rule_rows():
        TriageRule.objects.update_or_create(
            tag=tags[slug], phrase=phrase, kind=kind, defaults={"negatable": negatable}
        )


def unseed(apps, schema_editor):
    apps.get_model("routing", "TriageRule").objects.all().delete()
    apps.get_model("routing", "Tag").objects.filter(slug__in=[t[0] for t in TAGS]).delete()


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
