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

RULES = {
    "leaking": ["leak*", "wet myself", "pee* myself", "wee* myself", "incontinen*", "bladder"],
    "bowel": ["constipat*", "stool", "poo*", "bowel*", "wind", "gas", "fart*"],
    "pelvic-tension": ["tight pelvic floor", "hypertonic", "can't relax", "cannot relax",
                       "down training", "down-training", "kegels"],
    "prolapse": ["prolapse*", "heaviness", "heavy feeling", "dragging", "bulge",
                 "falling out", "pressure down"],
    "diastasis": ["diastasis", "ab separation", "separated abs", "gap in my ab*", "doming",
                  "coning"],
    "pelvic-pain": ["pelvic pain", "pubic bone", "tailbone", "coccyx", "spd", "pgp",
                    "hip pain", "perineum", "perineal pain", "stitches hurt"],
    "painful-sex": ["painful sex", "pain during sex", "sex hurts", "hurts during sex",
                    "intercourse", "penetration"],
    "c-section": ["c-section", "c section", "csection", "caesarean", "cesarean", "section scar",
                  "incision"],
    "return-to-running": ["run", "running", "jog*", "5k", "10k", "marathon", "parkrun"],
    "exercise-return": ["gym", "lifting weights", "crossfit", "hiit", "squat*", "deadlift*",
                        "netball", "tennis", "jumping jacks", "burpees", "exercise class*"],
    "postpartum-mood": ["low mood", "anxious", "anxiety", "overwhelmed", "crying", "depress*",
                        "can't bond", "not bonding", "intrusive thought*"],
    "red-flag": ["heavy bleeding", "soaking a pad", "large clots", "fever", "chest pain",
                 "can't breathe", "cannot breathe", "short of breath", "severe headache",
                 "blurred vision", "fainted", "fainting", "swollen leg", "hurt myself",
                 "harm myself", "harm the baby", "kill myself", "suicid*", "can't pee",
                 "cannot pee", "wound is oozing", "wound opening"],
}


def seed(apps, schema_editor):
    Tag = apps.get_model("routing", "Tag")
    TriageRule = apps.get_model("routing", "TriageRule")
    for slug, name, priority, red_flag, description in TAGS:
        tag, _ = Tag.objects.update_or_create(
            slug=slug,
            defaults={"name": name, "priority": priority, "is_red_flag": red_flag,
                      "description": description},
        )
        for phrase in RULES.get(slug, []):
            TriageRule.objects.get_or_create(tag=tag, phrase=phrase, kind="match")


def unseed(apps, schema_editor):
    apps.get_model("routing", "TriageRule").objects.all().delete()
    apps.get_model("routing", "Tag").objects.filter(slug__in=[t[0] for t in TAGS]).delete()


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
