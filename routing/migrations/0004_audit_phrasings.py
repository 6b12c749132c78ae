"""Adds the triage rules for the phrasings an audit of realistic messages found missed.

New rows only: the rules 0002 seeded may have been edited in the admin since, so they
are left as they are. Phrases are in the language of routing/triage.py; the kinds
are those of 0002 ("match" negatable, "always" not, "exclude").
"""

from django.db import migrations

# Thoughts of harming herself or the baby, however indirectly put. As in 0002, nothing
# cancels them: "in case I ever think about ending it" must alert too.
# Everyday sentences with the same words, excluded on both tags that take SELF_HARM.
SELF_HARM_EXCLUDE = [
    "wake/waking [up] the-baby/my-baby/baby/him/her/them/lo/my-lo/the-kids/everyone/"
    "anyone/the-house",
    "end/ending it/things with ... breastfeeding/feeding/formula/pumping/him/my-ex/"
    "my-boyfriend/my-partner/my-husband",
    "end/ending it/things/this there/for-today/for-tonight/for-now/early",
    "drop*/dropped [the/my] baby/him/her/lo/son/daughter/kids off/round/at/with",
    "throw*/threw [the/my] baby/him/her/lo/son/daughter ... party/birthday/shower/bath",
]
SELF_HARM = [
    "think*/thought* about/of [just] end/ending it/things/everything/my-life",
    "want/wanted/going/tempted to [just] end it/things/everything",
    "gonna/wanna [just] end it/things/everything", "want everything to end/stop",
    "better off dead", "rather be dead", "rather not be here/alive/around",
    "wish ... not wake up", "could just not wake up",
    # harm to the baby: "getting hurt by me", "a thought about throwing the baby"
    "hurt/harmed/injured/hurting/harming ... by me",
    "thought*/urge*/picture/picturing/imagine/imagining/image*/vision* ... "
    "throw*/threw/drop*/shake/shaking/smother*/suffocat*/drown*/stab* ... "
    "baby/him/her/son/daughter/lo/little-one",
    "don't/can't trust myself with/around/near/alone-with ... baby/him/her/lo/kids/little-one",
    "throw/throwing/threw [the/my] baby/him/her/lo "
    "against/across/down-the-stairs/out-the-window/out-of-the-window/off-the-balcony",
]

RULES = {
    "leaking": {
        "match": [
            "can't/couldn't control my bladder/pee/wee",
            "lost/losing/lose/no control of my bladder", "bladder ... out of control",
        ],
        "exclude": ["episiotomy/tear/perine*/section/wound/scar/stitches/incision ... leak*"],
    },
    "pelvic-pain": {
        # "pain" has 4 letters, so gets no typo matching: the common slip by name
        "match": [
            "pelvis/pelvic/pubic ... pian/pians", "pian/pians ... pelvis/pelvic-bone/pubic/groin",
        ],
    },
    "return-to-running": {
        "exclude": ["running/run/runs/ran a high/slight/low/bit-of-a/mild temp*/fever"],
    },
    "postpartum-mood": {
        "always": SELF_HARM,
        "exclude": [
            # "numb down there" is the body (a red flag), not a mood
            "numb* ... down-there/down-below/bum/perineum/vulva/saddle/genitals/back-passage/"
            "face/lips/arm/arms/toes/foot/tummy/belly/stomach",
            "down-there/down-below/perineum/vulva/genitals/face/lips/arm/arms/toes ... numb*",
            *SELF_HARM_EXCLUDE,
        ],
    },
    "red-flag": {
        "match": [
            # heavy bleeding, large clots
            "bleed*/bled ... a-lot/alot/lots/so-bad/really-bad/badly",
            "lot/lots/loads of [big/blood] clots",
            "pad/pads ... full/filled/filling/soaked ... hour/mins/minutes",
            # fever ("fevr", "feva": 4-letter typos get no typo matching)
            "fevr/feva",
            # chest pain, racing heart: the 4-letter slips by name ("pian", "hart")
            "chest pian/pians", "pian/pians ... chest",
            "heart/hart ... going-crazy/going-mad/going-wild/going-nuts/like-crazy/thumping/"
            "hammering/banging/out-of-my-chest",
            "heart/pulse rate/beat ... 12*/13*/14*/15*/16*/17*/18*/through-the-roof",
            "elephant/weight/crushing ... on my chest", "crushing ... chest",
            "hart ... racing/races/raced/race/pounding/palpitat*/fluttering/beating-fast",
            # breathing
            "can/could hardly/barely breathe/breath", "hurts/painful to breathe/breath",
            "breathing is/feels/gets/getting/got [really/so/very/quite] hard/difficult/laboured/"
            "labored",
            # headache; "sever" is a real word, so never a typo of "severe"
            "sever/sevear ... headache*/head-ache/migraine*",
            "lost/losing/loss-of [my/some/the/part-of-my] vision/eyesight",
            "lost/losing sight in/of ... eye/eyes",
            # dizziness
            "room/everything ... spin*/spinning/spun",
            # a red or painful leg, when the first clause denied something else:
            # "my calf isn't swollen but it's red"
            "calf/calves/leg/legs ... but it/they/they're ... red/hot/warm/painful/sore/tender/"
            "throbbing/swollen",
            # severe belly pain
            # Two rules: a phrase is at most 200 characters (TriageRule.phrase).
            "bad/awful/terrible/horrible/horrendous/worst/intense/unbearable ... "
            "pain/pains/cramp*/ache/aches ... stomach/tummy/belly/abdomen/abdominal/womb/uterus",
            "excruciating/severe/sever/extreme/crippling/agonising/agonizing ... "
            "pain/pains/cramp*/ache/aches ... stomach/tummy/belly/abdomen/abdominal/womb/uterus",
            "bad/awful/terrible/horrible/horrendous/worst/intense/unbearable/crippling/sever "
            "stomach/tummy/belly/abdominal/abdomen pain/pains/cramp*/ache/aches",
            "stomach/tummy/belly/abdomen ... agony",
            # "stomach really hurts": an intensifier makes it severe, "hurts a bit" is not
            "stomach/tummy/belly/abdomen ... really/so/badly/terribly/awfully hurt*/hurting/"
            "painful",
            "stomach/tummy/belly/abdomen ... hurt*/hurting/pain*/aching ... so-much/so-bad/"
            "really-bad/badly",
            "pain*/cramp*/ache ... stomach/tummy/belly/abdomen ... worse/worsening/unbearable",
            "doubled over/up", "cramp*/cramping/stomach/tummy/belly ... can't stand/stand-up/"
            "straighten-up/move/walk",
            # overwhelming exhaustion
            "too tired/shattered/exhausted to function/move/stand/get-out-of-bed",
            "tired/shattered/exhausted ... can't/barely/hardly stand/move/function/walk",
            "tired/shattered/exhausted ... can't look-after/care-for",
            # saddle numbness
            "lost/lose/losing/no feeling ... down-there/down-below/bum/bottom/vagina/vulva/"
            "saddle/thighs/genitals",
            "can't feel ... down-there/down-below/vagina/vulva/my-bum/my-bottom/saddle",
        ],
        "always": [
            *SELF_HARM,
            "haven't/hasn't had a/any wee/pee",
            "can't/couldn't/unable-to pass urine/water/a-wee/wee/pee",
            "can't/couldn't get/take a full/deep/proper breath",
            # a negation inside these is the point: "painkillers aren't touching it"
            "headache*/migraine*/head ... painkiller*/paracetamol/ibuprofen/co-codamol/tablets/"
            "meds/medication ... not/aren't/isn't/don't/doesn't/didn't/haven't/hasn't/won't/never "
            "touch*/help*/work*/shift*/doing",
            "headache*/migraine*/head ... painkiller*/paracetamol/ibuprofen/co-codamol/tablets/"
            "meds/medication ... do/does/did/doing nothing",
        ],
        "exclude": [
            "nipple*/nose/gums ... bleed*/bled", "bleed*/bled ... nipple*/nose/gums",
            "hurt*/hurting/ache*/aching/sore/pain* ... after/from/since/during ... crunches/"
            "plank*/pilates/workout*/gym/class/exercise*/sit-ups/situps/training/yoga/spin",
            *SELF_HARM_EXCLUDE,
            "doubled over/up laughing/laughter",
            "heart/pulse rate ... run/running/jog*/class/workout/gym/spin/exercise*/training/hiit",
            "can't stand it/this/that/him/her/being/when/how/people/anyone",
            "can't stand the/my sound/noise/crying/smell/sight/thought/way",
        ],
    },
}


def rule_rows():
    """(tag slug, phrase, kind, negatable) for every rule this migration adds; tests
    restore the catalogue from these too."""
    rows = {}
    for slug, rules in RULES.items():
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
    tags = {tag.slug: tag for tag in Tag.objects.filter(slug__in=RULES)}
    for slug, phrase, kind, negatable in rule_rows():
        if slug in tags:  # a tag deleted in the admin stays deleted
            TriageRule.objects.update_or_create(
                tag=tags[slug], phrase=phrase, kind=kind, defaults={"negatable": negatable}
            )


def unseed(apps, schema_editor):
    TriageRule = apps.get_model("routing", "TriageRule")
    for slug, phrase, kind, _ in rule_rows():
        TriageRule.objects.filter(tag__slug=slug, phrase=phrase, kind=kind).delete()


class Migration(migrations.Migration):
    dependencies = [("routing", "0003_rule_help_text")]
    operations = [migrations.RunPython(seed, unseed)]
