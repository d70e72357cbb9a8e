"""Value pools for the synthetic districts: names, places, courses, terms; and how a name becomes a login."""

from __future__ import annotations

import unicodedata


def login(name: str) -> str:
    """``"Tomás"`` → ``"tomas"``, ``"O'Brien"`` → ``"obrien"``: lower-case ASCII letters, digits and ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in ascii_name if ch.isalnum() or ch == "-")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    """
    Ava Liam Olivia Noah Emma Mateo Sophia Elijah Isabella Lucas Mia Ethan Amelia Aiden Harper Kai
    Evelyn Jayden Aria Omar Chloe Diego Layla Hiro Zoe Samuel Nora Arjun Lily Caleb Grace Mason Priya
    Leo Hannah Wei Sofia Jonah Fatima Owen Ruby Santiago Aaliyah Ibrahim Maya Elias Naomi Tomás Leah
    Yusuf Camila Nathan Ines Kofi Stella Ravi Freya Malik Ana Dmitri Hazel Luca Amara Finn Mei Gabriel
    Nia Oscar Yara Miles Selin Jamal Chiara Tariq Elise Rowan Ayesha Felix Keira Andrés Jade Hugo Saanvi
    Theo Lucía Ezra Imani Jonas Aiko Rafael Esme Daniel Zara Isaac Mariam Levi Noor Adrian Kiara Max
    """
)
LAST_NAMES = _words(
    """
    Smith Garcia Nguyen Patel Johnson Hernandez Kim Brown Lopez Walker Davis Martinez Wilson Anderson
    Thomas Taylor Moore Jackson Lee Harris Clark Lewis Robinson Young Allen King Wright Scott Torres
    Hill Green Adams Baker Nelson Carter Mitchell Perez Roberts Turner Phillips Campbell Parker Evans
    Edwards Collins Stewart Sanchez Morris Rogers Reed Cook Morgan Bell Murphy Bailey Rivera Cooper
    Richardson Cox Howard Ward Peterson Gray Ramirez James Watson Brooks Kelly Sanders Price Bennett
    Wood Barnes Ross Henderson Coleman Jenkins Perry Powell Long Patterson Hughes Flores Washington
    Butler Simmons Foster Gonzales Bryant Alexander Russell Griffin Diaz Hayes Okafor Mensah Yamamoto
    Rossi Dubois Larsen O'Brien
    """
)
MIDDLE_NAMES = ("", "", "", "Rose", "James", "Marie", "Lee", "Ann", "Alexander", "Grace", "Michael", "J")
ADULT_FIRST_NAMES = _words(
    """
    Laura Miguel Anh Raj Karen Jorge Ji-woo Robert Maria David Linh Sunita Paul Elena Minh Deepa Michael
    Fatou Ahmed Susan Carlos Yuki Grace Peter
    """
)
RELATIONSHIPS = _words(
    """
    Mother Father Guardian Grandparent Aunt Uncle Stepmother Stepfather
    """
)
PHONE_TYPES = ("Cell", "Home", "Work")
RACES = (
    "Caucasian",
    "Asian",
    "Black or African American",
    "Hispanic/Latino",
    "Two or More Races",
    "American Indian",
    "Hawaiian or Other Pacific Islander",
)
HOME_LANGUAGES = ("English", "English", "English", "English", "Spanish", "Vietnamese", "Mandarin", "Arabic")
FRL = ("Paid", "Paid", "Free", "Reduced", "Other")
STREETS = (
    "Maple Avenue",
    "Cedar Lane",
    "Oak Street",
    "Pine Court",
    "Willow Way",
    "Birch Road",
    "Elm Street",
    "Lakeview Drive",
    "Hillcrest Road",
    "Sunset Boulevard",
    "River Road",
    "Main Street",
)
CITIES = (
    ("Redmond", "WA", "98052"),
    ("Bellevue", "WA", "98004"),
    ("Kirkland", "WA", "98033"),
    ("Issaquah", "WA", "98027"),
    ("Sammamish", "WA", "98074"),
    ("Woodinville", "WA", "98072"),
)
PLACES = (
    "Lakeside",
    "Ridgeview",
    "Cedar Park",
    "Evergreen",
    "Maple Hills",
    "Riverside",
    "Sunnyslope",
    "Pine Lake",
    "Meadowbrook",
    "Highland",
    "Brookfield",
    "Fairview",
    "Westwood",
    "Oak Grove",
    "Silver Creek",
    "Northgate",
    "Eastlake",
    "Stonebridge",
    "Willow Glen",
    "Harbor View",
)
TITLES = _words(
    """
    Ms. Mr. Mrs. Dr. Mx.
    """
)
#: Staff jobs: (department, title, Clever staff role). No commas: the Clever API carries roles as a list.
STAFF_JOBS = (
    ("Administration", "Assistant Principal", "Administrator"),
    ("Administration", "Office Manager", "Office Staff"),
    ("Front Office", "Attendance Clerk", "Office Staff"),
    ("Counseling", "School Counselor", "Counselor"),
    ("Library", "Librarian", "Librarian"),
    ("Special Education", "Instructional Aide", "Aide"),
    ("Health Services", "School Nurse", "Nurse"),
    ("Technology", "IT Specialist", "Technology Staff"),
    ("Student Services", "School Psychologist", "Psychologist"),
)

#: Grade spellings by index: 0 = Kindergarten, 1..12.
GRADES = ("Kindergarten", *(str(g) for g in range(1, 13)))
#: School levels: name and (lowest, highest) grade index.
LEVELS = (("Elementary School", (0, 5)), ("Middle School", (6, 8)), ("High School", (9, 12)))

#: Courses per level: (course name, subject, course number prefix, description).
COURSES = (
    (
        ("Homeroom", "Homeroom/Advisory", "HR", "Morning meeting, reading and numbers"),
        ("Mathematics", "Math", "MA", "Number sense, operations, and measurement"),
        ("Reading and Writing", "English/Language Arts", "ELA", "Phonics, reading, and writing"),
        ("Science Exploration", "Science", "SCI", "Plants, animals, and simple machines"),
        ("General Music", "Arts and Music", "MUS", "Singing, rhythm, and recorder"),
        ("Physical Education", "PE and Health", "PE", "Movement, games, and teamwork"),
    ),
    (
        ("Math", "Math", "MA", "Ratios, proportions, and expressions"),
        ("English Language Arts", "English/Language Arts", "ELA", "Reading, writing, and discussion"),
        ("Life Science", "Science", "SCI", "Cells, ecosystems, and heredity"),
        ("U.S. History", "Social Studies", "SS", "From the colonies to reconstruction"),
        ("Spanish I", "Language", "SPA", "Greetings, family, and daily life"),
        ("Concert Band", "Arts and Music", "BND", "Beginning and intermediate band"),
        ("Computer Science Discoveries", "Technology and Engineering", "CS", "Apps, games, and data"),
    ),
    (
        ("Algebra I", "Math", "MA", "Linear functions, systems, and quadratics"),
        ("Algebra II", "Math", "MA", "Functions, polynomials, and logarithms"),
        ("Biology", "Science", "SCI", "Cells, genetics, and ecology"),
        ("Chemistry", "Science", "SCI", "Atoms, bonding, and reactions"),
        ("World History", "Social Studies", "SS", "From early civilizations to the present"),
        ("English 10", "English/Language Arts", "ENG", "Literature, composition, and research"),
        ("AP English Literature", "English/Language Arts", "ENG", 'Poetry, prose, and drama ("AP")'),
        ("Statistics", "Math", "MA", "Data, probability, and inference"),
        ("Health", "PE and Health", "HLT", "Nutrition, fitness, and wellness"),
    ),
)

#: Terms of the school year: (name, start, end) — start and end in the formats real exports use.
TERMS = (
    ("Fall 2026", "2026-08-17", "2027-01-22"),
    ("Spring 2027", "01/25/2027", "06/11/2027"),
    ("2026-2027", "2026-08-17", "2027-06-11"),
)
