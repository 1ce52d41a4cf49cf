"""Column names -> what personal data they announce, in several languages.

A name is split into tokens (snake_case, camelCase, spaces, dashes, digits;
accents folded, ``ß`` -> ``ss``), then matched against a dictionary of phrases
of one to four tokens. Matching whole tokens, not substrings, is what keeps
``hotel`` from being a phone (``tel``) and ``page`` from being an age, while
``cust_email_addr``, ``eMailAdresse`` and ``Geburtsdatum`` are caught.

A match can be cancelled by the tokens around it: ``email_verified`` and
``phone_type`` are facts *about* an email or a phone, ``address_id`` is a key,
``is_email_public`` a flag, ``server_ip`` or ``product_name`` name a thing, not
a person. The caller still sees the kind that was cancelled (``veto``), so a
column of IP addresses called ``server_ip`` is not flagged by its values
either.

Some words are *weak*: ``name``, ``notes``, ``picture``, ``homepage``,
``extension`` ... are personal in a table about people and not elsewhere
(``category.name``, ``categories.picture``). The caller decides with the
table's context.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# fmt: off
# Languages: en, de, fr, es, nl, it, pt. Words are written as tokens after
# folding: lowercase ASCII, one space between tokens.
_STRONG: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "e mail", "mail", "emails", "email address", "mail address", "emailaddress",
        "mailaddress", "emailaddr", "mail addr",
        "emailadresse", "mailadresse", "e mail adresse",  # de
        "courriel", "adresse electronique", "adresse mail", "adresse email", "mel",  # fr
        "correo", "correo electronico", "direccion correo", "email direccion",  # es
        "emailadres", "mailadres", "e mailadres",  # nl
        "posta elettronica", "indirizzo email", "indirizzo mail",  # it
        "correio eletronico", "correio electronico", "endereco email",  # pt
    ),
    "phone": (
        "phone", "phone number", "phonenumber", "telephone", "tel", "tel no", "tel nr",
        "mobile", "mobile phone", "mobile number", "cell", "cellphone", "cell phone",
        "fax", "fax number", "msisdn", "landline",
        "telefon", "telefonnummer", "handy", "handynummer", "mobilnummer", "mobiltelefon",
        "rufnummer", "festnetz", "telefax",  # de
        "telephone portable", "portable", "numero telephone", "numero de telephone",  # fr
        "telefono", "movil", "celular", "numero telefono", "telefono movil",  # es/it
        "telefoon", "telefoonnummer", "mobiel", "mobiele telefoon", "gsm",  # nl
        "cellulare", "numero di telefono",  # it
        "telefone", "telemovel", "numero telefone",  # pt
    ),
    "first_name": (
        "first name", "firstname", "fname", "given name", "givenname", "forename",
        "christian name",
        "vorname", "rufname",  # de
        "prenom",  # fr
        "nombre de pila", "primer nombre",  # es
        "voornaam", "roepnaam",  # nl
        "primeiro nome", "nome proprio", "nome di battesimo",  # pt/it
    ),
    "middle_name": ("middle name", "middlename", "middle initial", "second name"),
    "last_name": (
        "last name", "lastname", "lname", "surname", "sur name", "family name",
        "familyname", "maiden name",
        "nachname", "familienname", "zuname", "geburtsname",  # de
        "nom de famille", "nom famille",  # fr
        "apellido", "apellidos", "primer apellido", "segundo apellido",  # es
        "achternaam", "familienaam", "meisjesnaam",  # nl
        "cognome",  # it
        "sobrenome", "apelido",  # pt
    ),
    "name": (
        "full name", "fullname", "contact name",
        "contactname", "person name", "real name", "legal name", "customer name",
        "client name", "employee name", "member name", "patient name", "student name",
        "owner name", "holder name", "cardholder", "card holder", "cardholder name",
        "card holder name", "account holder", "recipient", "recipient name",
        "addressee", "beneficiary", "beneficiary name", "contact person",
        "ship name", "shipping name", "billing name", "delivery name", "sender name",
        "receiver name", "author", "author name", "guardian name", "emergency contact",
        "vollstandiger name", "voller name", "ansprechpartner", "empfanger",
        "kontaktperson", "kundenname", "karteninhaber", "kontoinhaber",  # de
        "nom complet", "nom prenom", "destinataire", "titulaire",  # fr
        "nombre completo", "nombre y apellidos", "destinatario", "titular",  # es/it/pt
        "volledige naam", "contactpersoon", "ontvanger", "naam klant",  # nl
        "nome completo", "nome e cognome",  # it/pt
    ),
    "username": (
        "username", "user name", "login", "login name", "loginname", "userid login",
        "screen name", "screenname", "nickname", "nick", "handle", "user handle",
        "account name", "benutzername", "benutzer", "anmeldename",  # de
        "nom utilisateur", "nom d utilisateur", "identifiant", "pseudo",  # fr
        "usuario", "nombre de usuario", "nombre usuario",  # es
        "gebruikersnaam", "gebruiker",  # nl
        "nome utente", "utente",  # it
        "nome de usuario", "nome usuario",  # pt
    ),
    "address": (
        "address", "addr", "street", "street address", "street name", "address line",
        "addressline", "home address", "postal address", "mailing address",
        "billing address", "shipping address", "delivery address", "house number",
        "housenumber", "house no", "apartment", "apt",
        "adresse", "anschrift", "strasse", "hausnummer", "wohnadresse", "wohnanschrift",
        "rechnungsadresse", "lieferadresse", "postanschrift",  # de
        "rue", "adresse postale", "numero de rue", "voie",  # fr
        "direccion", "calle", "domicilio", "direccion postal",  # es
        "adres", "straat", "straatnaam", "huisnummer", "woonadres",  # nl
        "indirizzo", "numero civico",  # it
        "endereco", "morada", "rua", "logradouro",  # pt
    ),
    "postcode": (
        "postcode", "post code", "postal code", "postalcode", "zip", "zipcode", "zip code",
        "postleitzahl", "plz",  # de
        "code postal", "codepostal",  # fr
        "codigo postal", "cod postal",  # es/pt
        "codice postale", "cap postale",  # it
        "cep",  # pt-BR
    ),
    "birth_date": (
        "birth", "birthdate", "birth date", "birthday", "date of birth", "dob", "born",
        "birth year", "year of birth", "birthyear", "yob",
        "geburtsdatum", "geburtstag", "geburtsjahr", "geboren", "geburt",  # de
        "date naissance", "date de naissance", "naissance", "ne le",  # fr
        "fecha nacimiento", "fecha de nacimiento", "nacimiento", "cumpleanos",  # es
        "geboortedatum", "geboorte", "verjaardag", "geboortejaar",  # nl
        "data nascita", "data di nascita", "nascita", "compleanno",  # it
        "data nascimento", "data de nascimento", "nascimento", "aniversario",  # pt
    ),
    "birth_place": (
        "birth place", "birthplace", "place of birth", "geburtsort", "lieu de naissance",
        "lieu naissance", "lugar de nacimiento", "lugar nacimiento", "geboorteplaats",
        "luogo di nascita", "luogo nascita", "local de nascimento", "naturalidade",
    ),
    "age": ("age", "alter", "edad", "leeftijd", "idade"),
    "gender": ("gender", "sex", "geschlecht", "sexe", "sexo", "genero", "geslacht", "sesso"),
    "salutation": (
        "salutation", "courtesy", "title of courtesy", "honorific", "form of address",
        "anrede", "civilite", "tratamiento", "aanhef", "titolo di cortesia", "tratamento",
    ),
    "national_id": (
        "ssn", "social security", "social security number", "social security no",
        "national id", "nationalid", "national insurance", "national insurance number",
        "nino", "tax id", "taxid", "tax number", "tin", "taxpayer id", "passport",
        "passport number", "passport no", "driver license", "drivers license",
        "driving licence", "driving license", "licence number", "id card", "identity card",
        "id number", "identity number", "personal number", "personnummer",
        "personalausweis", "ausweis", "ausweisnummer", "steuer id", "steuernummer",
        "steueridentifikationsnummer", "sozialversicherungsnummer", "svnr", "reisepass",  # de
        "numero securite sociale", "securite sociale", "nir", "insee", "carte identite",
        "numero fiscal",  # fr
        "dni", "nie", "nif", "nss", "documento identidad", "numero documento",  # es
        "bsn", "burgerservicenummer", "sofinummer", "paspoort",  # nl
        "codice fiscale", "carta identita", "passaporto",  # it
        "cpf", "rg", "cartao cidadao", "passaporte",  # pt
        "pesel", "aadhaar", "aadhar",
        "tax identification number", "tax identification", "taxpayer number",
        "tax code", "legal number", "vat number", "vat id",
    ),
    "credit_card": (
        "credit card", "creditcard", "card number", "cardnumber", "card no", "cc number",
        "ccnumber", "cc num", "ccnum", "pan", "cvv", "cvc", "card cvv",
        "kreditkarte", "kreditkartennummer", "kartennummer",  # de
        "carte bancaire", "carte de credit", "numero de carte", "numero carte",  # fr
        "tarjeta", "tarjeta de credito", "numero de tarjeta", "numero tarjeta",  # es
        "creditcardnummer", "kaartnummer",  # nl
        "carta di credito", "numero carta",  # it
        "cartao de credito", "numero do cartao", "numero cartao",  # pt
    ),
    "iban": (
        "iban", "bank account", "account number", "bank account number", "accountnumber",
        "kontonummer", "bankverbindung", "konto",  # de
        "numero de compte", "compte bancaire", "rib",  # fr
        "cuenta bancaria", "numero de cuenta", "numero cuenta",  # es
        "rekeningnummer", "bankrekening",  # nl
        "conto corrente", "numero conto",  # it
        "conta bancaria", "numero da conta", "numero conta",  # pt
    ),
    "ip": (
        "ip", "ip address", "ipaddress", "ipaddr", "ip addr", "ipv4", "ipv6",
        "remote addr", "remote address", "remote ip", "client ip", "client address",
        "ip adresse", "adresse ip", "direccion ip", "ip adres", "indirizzo ip", "endereco ip",
    ),
    "device_id": (
        "mac address", "macaddress", "mac addr", "imei", "device id", "deviceid",
        "udid", "idfa", "advertising id", "gaid", "device fingerprint", "browser fingerprint",
    ),
    "password": (
        "password", "passwd", "pwd", "pass", "password hash", "passwordhash",
        "hashed password", "encrypted password", "pass hash",
        "passwort", "kennwort",  # de
        "mot de passe", "mdp",  # fr
        "contrasena", "clave",  # es
        "wachtwoord",  # nl
        "parola d ordine",  # it
        "senha",  # pt
    ),
    "photo": (
        "avatar", "portrait", "selfie", "headshot", "profile picture", "profile photo",
        "profile image", "profile pic", "profilbild", "photo de profil", "foto de perfil",
        "profielfoto", "foto profilo", "passbild", "mugshot",
    ),
    "sensitive": (
        "ethnicity", "ethnic", "ethnic origin", "religion", "religious", "marital status",
        "sexual orientation", "nationality", "citizenship", "diagnosis", "medical condition",
        "medical history", "health condition", "disability", "blood type",
        "familienstand", "staatsangehorigkeit", "konfession",  # de
        "situation familiale", "nationalite",  # fr
        "estado civil", "nacionalidad",  # es/pt
        "burgerlijke staat", "nationaliteit",  # nl
        "stato civile", "nazionalita",  # it
        "nacionalidade",  # pt
    ),
}

_WEAK: dict[str, tuple[str, ...]] = {
    # personal in a table about people (or with person-like values), not elsewhere
    # "display name" too: a user's, or a plan's or a product's (values decide)
    "name": ("name", "naam", "nom", "nome", "display name", "displayname"),
    # quasi-identifiers: personal beside a person or a street address
    "city": (
        "city", "town", "locality", "municipality", "stadt", "wohnort", "ort", "ville",
        "ciudad", "localidad", "poblacion", "plaats", "woonplaats", "citta", "cidade",
        "localidade",
    ),
    "region": (
        "state", "province", "region", "county", "prefecture", "bundesland", "provincia",
        "provincie", "estado", "departement", "regione", "distrito",
    ),
    "company": (
        "company", "company name", "companyname", "firm", "business name", "organisation",
        "organization", "employer", "firma", "firmenname", "unternehmen", "arbeitgeber",
        "entreprise", "societe", "raison sociale", "empresa", "nombre empresa", "bedrijf",
        "bedrijfsnaam", "azienda", "ragione sociale", "ditta",
    ),
    "free_text": (
        "notes", "note", "comment", "comments", "remark", "remarks", "bio", "biography",
        "about", "about me", "memo", "annotation", "observations",
        "bemerkung", "bemerkungen", "notiz", "notizen", "kommentar", "anmerkung",
        "anmerkungen",  # de
        "remarque", "remarques", "commentaire", "commentaires",  # fr
        "nota", "notas", "comentario", "comentarios", "observaciones",  # es/pt
        "opmerking", "opmerkingen", "notitie", "notities",  # nl
        "commento", "osservazioni",  # it
        "observacoes", "observacao",  # pt
    ),
    "photo": (
        "photo", "picture", "image", "img", "pic", "foto", "bild", "imagen", "afbeelding",
        "immagine", "imagem", "photo path", "signature",
    ),
    "url": (
        "homepage", "home page", "website", "web site", "url", "webseite", "site web",
        "sitio web", "pagina web", "blog", "linkedin", "facebook", "twitter", "instagram",
        "social", "profile url",
    ),
    "phone": ("extension", "ext", "durchwahl", "poste", "extension number"),
    "geo": (
        "latitude", "longitude", "lat", "lng", "lon", "geo", "geolocation", "coordinates",
        "gps", "location", "breitengrad", "laengengrad", "latitud", "longitud",
        "breedtegraad", "lengtegraad", "latitudine", "longitudine",
    ),
    "username": ("user",),
    "device_id": ("fingerprint",),  # a device's, or a key's or a file's
    "salary": ("salary", "income", "wage", "gehalt", "lohn", "salaire", "salario", "salaris"),
}

# German/Dutch compounds: a token that starts with one of these is that kind
# ("telefonnummer2", "geburtsort" is listed above so it wins as a phrase).
_PREFIX_STEMS: dict[str, str] = {
    "telefon": "phone",
    "telephon": "phone",
    "handynr": "phone",
    "email": "email",
    "geburts": "birth_date",
    "geboorte": "birth_date",
    "passwor": "password",
    "wachtwoord": "password",
}
# ... and a token that ends with one ("wohnadresse", "lieferanschrift").
_SUFFIX_STEMS: dict[str, str] = {
    "adresse": "address",
    "anschrift": "address",
    "strasse": "address",
    "telefon": "phone",
    "telefonnummer": "phone",
    "nachname": "last_name",
    "vorname": "first_name",
    "emailadresse": "email",
}

# When two matches are equally long, the first kind here wins:
# ``cust_email_addr`` is an email, ``ip_address`` an IP.
PRIORITY: tuple[str, ...] = (
    "email", "ip", "device_id", "phone", "national_id", "credit_card", "iban", "password",
    "birth_place", "birth_date", "first_name", "middle_name", "last_name", "username",
    "name", "salutation", "postcode", "address", "company", "photo", "url", "geo",
    "gender", "age", "sensitive", "salary", "free_text", "city", "region",
)
# fmt: on


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Tokens after a match that make it a fact about the value, not the value.
_TRAILING_CANCEL = _words(
    """verified verify verification confirmed confirmation validated valid validation
    sent count cnt counter status state type kind flag flags enabled disabled format
    template at ts time timestamp date opt optin optout opted subscribed subscription
    bounced bounce bounces length len visible visibility public private required changed
    updated created modified deleted id ids key uuid guid fk pk ref idx index seq domain
    provider regex pattern policy mask masked token preference preferences settings
    setting consent label prefix country code lang language locale encoding charset
    version config server host port smtp queue subject body source origin hint
    reminder reset expires expiry expiration attempts tries retries score quality
    strength app platform os agent role group url uri link endpoint method page screen
    form field column button check algo algorithm alg scheme cipher iterations rounds"""
)
# ... except these, for the kinds that own them (``birth_date``, ``password_hash``).
_TRAILING_ALLOWED: dict[str, frozenset[str]] = {
    "birth_date": frozenset({"date", "day", "ts", "time", "timestamp", "at", "on"}),
    "password": frozenset({"hash", "digest", "salt", "enc", "encrypted", "crypt"}),
    "phone": frozenset({"number", "no", "nr", "num", "nummer", "numero"}),
    "photo": frozenset({"url", "uri", "link", "path", "file"}),  # where the photo is
}
# Leading tokens that make the column a flag or a count.
_LEADING_CANCEL = _words(
    "is has can allow allows should must use show hide needs send require enable "
    "disable num count total n max min avg sum default"
)
# Tokens before a match that say the thing named is not a person.
_NOT_A_PERSON = _words(
    """product products category categories file filename table column field company
    business brand model app application host server domain event project team group
    role department dept region territory state country city place location venue store
    shop item article service plan package course class schema database db index type
    kind tag label job file image document doc template campaign list feature module
    queue topic channel device bucket branch bank carrier shipper manufacturer menu page
    site web report metric variable var param parameter property attribute setting
    option currency language locale timezone color colour unit species breed film movie
    song album game league sheet workspace org organization organisation tenant
    vendor supplier warehouse office depot plant factory hq headquarters hotel room
    network net subnet gateway router proxy dns nat bind listen vip lb node cluster
    internal smtp api upstream backend mac memory mem wallet contract bitcoin eth
    support helpdesk hotline switchboard noreply system notification alert sales info
    admin cover banner background logo thumbnail icon asset cdn listing callback webhook
    redirect return success cancel download upload feed rss docs endpoint repo git
    commit release error log version key secret"""
)
# ... except where the compound is itself personal ("bank account", "mac address"
# are matched as phrases before this applies).
_PERSON_QUALIFIERS = _words(
    """full display contact customer client person personal employee member patient
    student owner holder cardholder recipient ship shipping billing delivery sender
    receiver author signer guardian parent mother father spouse emergency beneficiary
    applicant candidate driver passenger guest visitor attendee participant teacher
    doctor buyer seller landlord real legal maiden birth nick user kunde kunden klant
    cliente mitarbeiter"""
)
# Table names that say the rows are people.
_PERSON_TABLES = _words(
    """user users customer customers client clients person persons people member members
    employee employees staff contact contacts patient patients student students actor
    actors author authors applicant applicants candidate candidates subscriber
    subscribers guest guests visitor visitors driver drivers passenger passengers
    teacher teachers profile profiles account accounts lead leads
    kunde kunden mitarbeiter benutzer personen personal
    utilisateur utilisateurs salarie salaries employe employes
    cliente clientes empleado empleados usuario usuarios persona personas
    klant klanten medewerker medewerkers gebruiker gebruikers persoon personen
    dipendente dipendenti utente utenti
    funcionario funcionarios pessoa pessoas"""
)


def _table(
    entries: dict[str, tuple[str, ...]], strong: bool
) -> dict[tuple[str, ...], tuple[str, bool]]:
    out: dict[tuple[str, ...], tuple[str, bool]] = {}
    for kind, phrases in entries.items():
        for phrase in phrases:
            out.setdefault(tuple(phrase.split()), (kind, strong))
    return out


_DICTIONARY: dict[tuple[str, ...], tuple[str, bool]] = {
    **_table(_WEAK, strong=False),
    **_table(_STRONG, strong=True),  # a phrase listed in both is strong
}
_LONGEST = max(len(k) for k in _DICTIONARY)


@dataclass(frozen=True)
class NameMatch:
    """What a column name says. ``veto`` set: the name is about ``kind`` but does
    not hold one (a key, a flag, a thing rather than a person)."""

    kind: str
    strong: bool
    phrase: str  # the dictionary words that matched, e.g. "email" or "date of birth"
    veto: str | None = None

    @property
    def personal(self) -> bool:
        return self.veto is None


def _fold(text: str) -> str:
    text = text.replace("ß", "ss").replace("æ", "ae").replace("Æ", "AE")
    text = text.replace("ø", "o").replace("Ø", "O").replace("œ", "oe").replace("Œ", "OE")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(name: str) -> list[str]:
    """``custEmailAddr`` -> [cust, email, addr]; ``Geburts-Datum 2`` -> [geburts, datum, 2]."""
    text = _fold(name)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)  # camelCase
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)  # IPAddress -> IP Address
    text = re.sub(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])", r"\1\3 \2\4", text)  # address2
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def _singular(token: str) -> list[str]:
    forms = [token]
    if len(token) > 3 and token.endswith("ies"):
        forms.append(token[:-3] + "y")
    if len(token) > 3 and token.endswith("es"):
        forms.append(token[:-2])
    if len(token) > 2 and token.endswith("s"):
        forms.append(token[:-1])
    return forms


def _lookup(phrase: tuple[str, ...]) -> tuple[str, bool] | None:
    hit = _DICTIONARY.get(phrase)
    if hit is None and phrase:
        for form in _singular(phrase[-1])[1:]:
            hit = _DICTIONARY.get((*phrase[:-1], form))
            if hit is not None:
                break
    return hit


def _candidates(toks: list[str]) -> list[tuple[int, int, str, bool, str]]:
    """(start, length, kind, strong, phrase) of every dictionary hit."""
    found = []
    for i in range(len(toks)):
        for n in range(min(_LONGEST, len(toks) - i), 0, -1):
            phrase = tuple(toks[i : i + n])
            hit = _lookup(phrase)
            if hit is not None:
                found.append((i, n, hit[0], hit[1], " ".join(phrase)))
        token = toks[i]
        for stem, kind in _PREFIX_STEMS.items():
            if token.startswith(stem) and token != stem:
                found.append((i, 1, kind, True, token))
        for stem, kind in _SUFFIX_STEMS.items():
            if token.endswith(stem) and token != stem:
                found.append((i, 1, kind, True, token))
    return found


def match_column(name: str) -> NameMatch | None:
    """The personal kind a column name announces, or None when it says nothing."""
    toks = tokens(name)
    found = _candidates(toks)
    if not found:
        return None
    # Longest phrase first, strong before weak, then PRIORITY.
    best = min(found, key=lambda f: (-f[1], not f[3], PRIORITY.index(f[2])))
    result = _judge(toks, *best)
    if result.veto and "followed by" in result.veto:
        # "user_url": the word after "user" is itself a kind (the head noun), and
        # "user" says whose: judge the later match instead
        later = [f for f in found if f[0] >= best[0] + best[1]]
        if later:
            head = _judge(toks, *min(later, key=lambda f: (-f[1], not f[3], -f[0])))
            if head.personal:
                return head
    return result


# Generic nouns that a qualifier before them can make a thing's:
# "provider_name", "discount_name", "embed_url", "delivery_url".
_QUALIFIABLE = frozenset({"name", "naam", "nom", "nome", "display name", "displayname", "url"})
# Modifiers, not nouns: "lower_name" is the same name lowercased.
_MODIFIERS = _words(
    """lower upper lowercase uppercase normalized normalised canonical sort sorting search
    short old new original previous prev alt alternate alternative other preferred common"""
)
# ... and which qualifiers make it a person's URL rather than a thing's.
_URL_PERSON_QUALIFIERS = _words(
    """user author member customer client profile personal owner contact employee
    person commenter home own"""
)


def _judge(
    toks: list[str], start: int, length: int, kind: str, strong: bool, phrase: str
) -> NameMatch:
    """The match at ``toks[start:start + length]``, weighed with the tokens around it."""
    before, after = toks[:start], toks[start + length :]
    allowed = _TRAILING_ALLOWED.get(kind, frozenset())
    trailing = [t for t in after if t in _TRAILING_CANCEL and t not in allowed]
    if trailing:
        what = (
            "a key"
            if trailing[-1] in {"id", "ids", "key", "fk", "pk", "ref", "uuid"}
            else (f"a fact about it ({trailing[0]})")
        )
        return NameMatch(
            kind, strong, phrase, veto=f"'{phrase}' followed by '{trailing[0]}': {what}"
        )
    if before and before[0] in _LEADING_CANCEL:
        return NameMatch(kind, strong, phrase, veto=f"'{before[0]}' makes it a flag or a count")
    things = [t for t in before if t in _NOT_A_PERSON]
    if things and kind not in ("password", "national_id", "credit_card", "iban"):
        return NameMatch(
            kind, strong, phrase, veto=f"'{things[-1]} {phrase}' names a thing, not a person"
        )
    # The word right before says whose: "ship_name" is a person's name,
    # "shipping_method_name" the method's.
    qualifier = before[-1] if before else None
    people = _URL_PERSON_QUALIFIERS if kind == "url" else _PERSON_QUALIFIERS
    if not strong and kind not in ("city", "region") and qualifier in people:
        strong = True  # "ship_name", "contact_name", "author_url": a person's
    elif (
        not strong
        and phrase in _QUALIFIABLE
        and qualifier is not None
        and qualifier not in _MODIFIERS
        and len(qualifier) > 2  # "c_name", "s_url": a table's prefix, not a noun
        and not qualifier.isdigit()
    ):
        whose = f"'{qualifier} {phrase}': the {qualifier}'s {phrase}, not a person's"
        return NameMatch(kind, strong, phrase, veto=whose)
    return NameMatch(kind, strong, phrase)


def is_person_table(name: str) -> bool:
    """Whether a table's name says its rows are people (``customers``, ``Mitarbeiter``)."""
    toks = tokens(name)
    if toks and any(form in _NOT_A_PERSON for form in _singular(toks[-1])):
        return False  # "user_roles", "customer_groups": the last word says what the rows are
    return any(form in _PERSON_TABLES for t in toks for form in _singular(t))
