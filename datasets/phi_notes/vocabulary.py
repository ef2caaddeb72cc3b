"""Word pools for the synthetic case notes. Every pool that names a person or a place is
split in three: `train` pools feed the train split, `dev` pools the dev split, `heldout`
pools only the test split, so the held-out notes name people and places that no rule was
tuned on.

All names, addresses and numbers are made up. Numbers are formatted like real ones
(reserved 555-01xx telephone numbers, invalid SSN areas are avoided only where the format
needs it) but belong to nobody.
"""

from __future__ import annotations

FIRST_NAMES = {
    "train": ["Eleanor", "Marisol", "Priya", "Dana", "Keisha", "Olga", "Francesca", "Hannah",
              "Yuki", "Aaliyah", "Beatriz", "Colleen", "Imani", "Lucia", "Megan", "Rosa",
              "Tamara", "Whitney", "Brandon", "Marcus", "Tyler", "Derek", "Ahmed", "Luis",
              "Grace", "Hope", "Ivy", "Jasmine", "Natalie", "Sofia", "Valentina", "Zoe"],
    "dev": ["Adaeze", "Bronwyn", "Catalina", "Delphine", "Esperanza", "Fiona", "Gwendolyn",
             "Harriet", "Ingrid", "Jolene", "Kalani", "Lorraine", "Maeve", "Nadia", "Odette",
             "Paloma", "Quinn", "Rhiannon", "Saoirse", "Thandiwe", "Ulla", "Verity", "Wren",
             "Xiomara", "Yolanda", "Zainab", "Cormac", "Dmitri", "Emeka", "Faisal", "Rose",
             "Faith"],
    "heldout": ["Annika", "Bettina", "Chiamaka", "Dolores", "Elif", "Frida", "Giselle",
                "Hyun-woo", "Ilse", "Juniper", "Kerstin", "Leilani", "Marguerite", "Noor",
                "Oksana", "Pilar", "Rosalind", "Svetlana", "Tallulah", "Ursula", "Vivienne",
                "Wilhelmina", "Yasmin", "Zofia", "Bartholomew", "Caspian", "Desmond", "Ezekiel",
                "April", "June", "Summer", "Destiny"],
}
SURNAMES = {
    "train": ["Whitfield", "Okafor", "Delgado", "Nakamura", "Kowalski", "Brennan", "Haddad",
              "Lindqvist", "Fontaine", "Abernathy", "Castellanos", "Mbeki", "Novak", "Petrov",
              "Quintero", "Rasmussen", "Sorensen", "Thibodeaux", "Underwood", "Vasquez",
              "Yamamoto", "Zielinski", "Baker", "Bell", "Hamilton", "Marsh", "Carter", "Reyes"],
    "dev": ["Achterberg", "Blackwood", "Cavanaugh", "Dunleavy", "Esposito", "Fairweather",
             "Gallagher", "Hollings", "Iwasaki", "Jankowski", "Kristiansen", "Lacroix",
             "Montgomery", "Nwosu", "Oyelaran", "Pemberton", "Ramanathan", "Szabo", "Tremblay",
             "Villanueva", "Wojcik", "Xu", "Yilmaz", "Zamora", "Wilson", "Stevens", "Daniel",
             "Sinclair"],
    "heldout": ["Abernethy-Clarke", "Bjornstad", "Castellano", "Drummond", "Eriksen", "Fitzgerald",
                "Grunwald", "Halvorsen", "Ibarra", "Jorgensen", "Kaczmarek", "Lindgren", "MacAllister",
                "Nakashima", "O'Sullivan", "Papadopoulos", "Quist", "Rosenthal", "Schuster",
                "Takahashi", "Uchenna", "Vukovic", "Whitaker", "Young", "Zhou", "Mohs", "Converse",
                "Glass"],
}
STREETS = {
    "train": ["Maple Street", "Oak Avenue", "Cedar Lane", "Birch Road", "Willow Drive",
              "Elm Court", "Pine Street", "Lakeview Drive", "Sunset Boulevard", "Highland Avenue",
              "Church Street", "Mill Road", "Park Place", "Ridge Way"],
    "dev": ["Magnolia Terrace", "Cypress Circle", "Juniper Trail", "Harbor View Road",
             "Chestnut Street", "Quarry Lane", "Foxglove Court", "Meadowbrook Parkway",
             "Orchard Avenue", "Bayberry Drive", "Kingfisher Way", "Alder Place"],
    "heldout": ["Bluebonnet Lane", "Copperfield Road", "Dogwood Avenue", "Evergreen Terrace",
                "Falcon Ridge Drive", "Granite Street", "Hawthorne Boulevard", "Ivy Court",
                "Lighthouse Road", "Mockingbird Lane", "North 5th Street", "Prairie View Way"],
}
CITIES = {
    "train": [("Springfield", "IL"), ("Naperville", "IL"), ("Oak Park", "IL"), ("Plano", "TX"),
              ("Scottsdale", "AZ"), ("Boca Raton", "FL"), ("Evanston", "IL"), ("Beverly Hills", "CA"),
              ("Newport Beach", "CA"), ("Bellevue", "WA"), ("Fort Collins", "CO"), ("Marietta", "GA"),
              ("Ann Arbor", "MI"), ("Stamford", "CT")],
    "dev": [("Sugar Land", "TX"), ("Coral Gables", "FL"), ("Carmel", "IN"), ("Brookline", "MA"),
             ("Santa Monica", "CA"), ("Bethesda", "MD"), ("Edina", "MN"), ("Franklin", "TN"),
             ("Overland Park", "KS"), ("Hoboken", "NJ"), ("Boise", "ID"), ("Greenwich", "CT")],
    "heldout": [("Round Rock", "TX"), ("Kirkland", "WA"), ("Asheville", "NC"), ("Savannah", "GA"),
                ("Naples", "FL"), ("Lake Oswego", "OR"), ("Princeton", "NJ"), ("Ithaca", "NY"),
                ("Santa Fe", "NM"), ("Park City", "UT"), ("Bozeman", "MT"), ("Sedona", "AZ")],
}
STATES_AND_COUNTRIES = ["Texas", "Florida", "California", "Ohio", "Canada", "Mexico", "Brazil",
                        "the United Kingdom", "Colombia", "Arizona", "Georgia", "New Jersey"]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com"]
INSURERS = ["Aetna", "Cigna", "Blue Cross", "UnitedHealthcare", "Humana", "Kaiser", "Medicare"]

# The note's author (configured in the detector as the surgeon's own name and practice).
AUTHOR_NAMES = ["Karen Holt", "Holt"]
PRACTICE_NAMES = ["Holt Aesthetic Surgery", "Lakeshore Plastic Surgery Center"]
# Other clinicians: not patient identifiers under Safe Harbor.
CLINICIANS = ["Patel", "Nguyen", "Okonkwo", "Feldman", "Alvarez", "Chen"]

# ------------------------------------------------------------------ hard negatives
EPONYMS = ["Wise pattern", "Le Fort I", "Le Fort III", "Tessier", "Pitanguy", "Regnault grade 2",
           "Baker grade III", "Fitzpatrick type IV", "Glogau", "Millard rotation-advancement",
           "Abbe flap", "Mohs", "Burow's triangle", "Limberg flap", "Hall-Findlay",
           "Benelli round block", "Scarpa's fascia", "Camper's fascia", "Jackson-Pratt",
           "Tanner stage", "Norwood scale", "Obwegeser", "Furlow palatoplasty", "Mustarde sutures",
           "Furnas sutures", "Lockwood's ligament"]
IMPLANT_PRODUCTS = ["Natrelle Inspira", "Natrelle", "Sientra", "Mentor MemoryGel",
                    "Mentor MemoryShape", "Motiva Ergonomix", "Ideal Implant", "Sientra HSC+"]
INJECTABLES = ["Botox", "Dysport", "Xeomin", "Jeuveau", "Juvederm Voluma", "Juvederm Volbella",
               "Restylane Lyft", "Restylane Kysse", "Sculptra", "Radiesse", "Kybella", "RHA 4",
               "Belotero"]
DEVICES_AND_SUTURES = ["Vicryl", "Monocryl", "PDS", "Prolene", "Exparel", "Tisseel", "AlloDerm",
                       "Strattice", "GalaFLEX", "Dermabond", "Prineo", "Keller Funnel", "Renuvion",
                       "VASER", "BodyTite", "Morpheus8", "Exparel TAP block"]
