-- The benchmark database: N users and 8N rows of a small shop, deterministic
-- (no random(): every value is a function of the row number), built in SQL.
--
--     psql -v ON_ERROR_STOP=1 -v users=200000 -d dc_bench_200000 -f bench/make_db.sql
--
-- users        N   every personal column a shop keeps, and a jsonb profile
-- orders      3N   a shipping address, a note on 30% (some quote an email or phone)
-- comments    2N   free text, 30% quoting an email or a phone number
-- audit_log   2N   the actor by email value (joins users.email), ip, user_agent
-- plans, countries, products: reference tables, nothing personal
--
-- Tables are filled before their keys and indexes are built, then frozen and
-- analysed, so the first reader does not pay for setting hint bits.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';

DROP TABLE IF EXISTS audit_log, comments, orders, users, products, countries, plans CASCADE;

CREATE TABLE plans (
    id int PRIMARY KEY,
    name text NOT NULL,
    monthly_cents int NOT NULL
);
INSERT INTO plans VALUES (1, 'free', 0), (2, 'basic', 499), (3, 'pro', 1499), (4, 'team', 4999);

CREATE TABLE countries (
    code char(2) PRIMARY KEY,
    name text NOT NULL,
    vat_rate numeric(4, 2) NOT NULL
);
INSERT INTO countries VALUES
    ('US', 'United States', 0), ('GB', 'United Kingdom', 20), ('DE', 'Germany', 19),
    ('FR', 'France', 20), ('NL', 'Netherlands', 21), ('ES', 'Spain', 21), ('IT', 'Italy', 22),
    ('SE', 'Sweden', 25), ('PL', 'Poland', 23), ('IE', 'Ireland', 23), ('CA', 'Canada', 5),
    ('AU', 'Australia', 10);

CREATE TABLE products (
    id int PRIMARY KEY,
    sku text NOT NULL UNIQUE,
    name text NOT NULL,
    price_cents int NOT NULL,
    active boolean NOT NULL
);
INSERT INTO products
SELECT p, 'SKU-' || lpad(p::text, 6, '0'),
       (ARRAY['Mug', 'T-shirt', 'Notebook', 'Backpack', 'Sticker pack', 'Hoodie', 'Cap',
              'Water bottle'])[1 + p % 8] || ' model ' || p,
       199 + (p * 7919) % 9800, p % 17 <> 0
FROM generate_series(1, 1000) AS p;

CREATE TABLE users (
    id bigint NOT NULL,
    email text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    phone text,
    street text,
    city text,
    zip text,
    country char(2) NOT NULL,
    birth_date date,
    ssn text,
    password_hash text NOT NULL,
    plan_id int NOT NULL,
    created_at timestamptz NOT NULL,
    profile jsonb NOT NULL
);

CREATE TABLE orders (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    product_id int NOT NULL,
    quantity int NOT NULL,
    total_cents bigint NOT NULL,
    status text NOT NULL,
    ship_street text NOT NULL,
    ship_city text NOT NULL,
    ship_zip text NOT NULL,
    note text,
    created_at timestamptz NOT NULL
);

CREATE TABLE comments (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    product_id int NOT NULL,
    rating smallint NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE audit_log (
    id bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    ip inet,
    user_agent text,
    at timestamptz NOT NULL
);

-- Names, streets and cities: id-indexed picks from fixed lists (coprime strides
-- so the columns do not move in lockstep).
INSERT INTO users
SELECT i,
       lower(f) || '.' || lower(l) || i || '@' || dom,
       f, l, ph,
       (10 + (i * 37) % 9890) || ' ' || st,
       city, lpad(((i * 7919) % 99999)::text, 5, '0'), cc,
       date '1940-01-01' + ((i * 2654435761) % 23000)::int,
       lpad(((i * 48271) % 899 + 100)::text, 3, '0') || '-'
           || lpad(((i * 16807) % 99)::text, 2, '0') || '-'
           || lpad(((i * 69621) % 9999)::text, 4, '0'),
       '$2b$12$' || md5(i::text) || substr(md5((i * 3)::text), 1, 21),
       1 + i % 4,
       timestamptz '2019-01-01 00:00:00+00' + i * interval '97 seconds',
       jsonb_build_object(
           'name', f || ' ' || l,
           'contact', jsonb_build_object('email', lower(f) || '.' || lower(l) || i || '@' || dom,
                                         'phone', ph),
           'prefs', jsonb_build_object('newsletter', i % 3 = 0, 'theme',
                                       CASE WHEN i % 2 = 0 THEN 'dark' ELSE 'light' END),
           'signup', jsonb_build_object('source', (ARRAY['web', 'ios', 'android', 'partner'])[1 + i % 4],
                                        'campaign', 'c' || i % 40))
FROM (
    SELECT i,
           (ARRAY['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda',
                  'David', 'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph',
                  'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'Chris', 'Lisa', 'Daniel',
                  'Nancy', 'Matthew', 'Betty', 'Anthony', 'Sandra', 'Mark', 'Margaret', 'Olga',
                  'Ahmed', 'Yuki', 'Chen', 'Fatima', 'Lars', 'Ingrid', 'Pierre', 'Amelie',
                  'Giulia', 'Mateo', 'Sofia', 'Noah', 'Emma', 'Liam', 'Ava', 'Lucas', 'Mia',
                  'Ethan', 'Zoe'])[1 + i % 50] AS f,
           (ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis',
                  'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson',
                  'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez',
                  'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis',
                  'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres',
                  'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall',
                  'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Muller', 'Schmidt', 'Dubois',
                  'Rossi', 'Jansen', 'Novak', 'Kowalski', 'Svensson', 'Murphy', 'Tanaka',
                  'Kim', 'Patel'])[1 + (i * 7) % 61] AS l,
           (ARRAY['gmail.com', 'yahoo.com', 'outlook.com', 'hotmail.com', 'icloud.com',
                  'proton.me', 'gmx.de', 'web.de', 'orange.fr', 'example.org'])[1 + (i * 3) % 10]
               AS dom,
           '+1 ' || (200 + (i * 13) % 799) || '-555-' || lpad(((i * 7919) % 10000)::text, 4, '0')
               AS ph,
           (ARRAY['Main St', 'Oak Ave', 'Pine Rd', 'Maple Dr', 'Cedar Ln', 'Elm St',
                  'Washington Blvd', 'Lake View', 'Hill Crest', 'Park Ave', 'River Rd',
                  'Sunset Blvd', 'High St', 'Station Rd', 'Church Lane', 'Mill Road',
                  'Bahnhofstrasse', 'Rue de la Paix', 'Via Roma', 'Kerkstraat'])[1 + (i * 11) % 20]
               AS st,
           (ARRAY['Springfield', 'Riverside', 'Franklin', 'Greenville', 'Bristol', 'Clinton',
                  'Fairview', 'Salem', 'Madison', 'Georgetown', 'Arlington', 'Ashland',
                  'Dover', 'Oxford', 'Jackson', 'Burlington', 'Manchester', 'Milton',
                  'Newport', 'Auburn', 'Dayton', 'Lexington', 'Milford', 'Winchester',
                  'Berlin', 'Paris', 'Madrid', 'Rome', 'Amsterdam', 'Stockholm', 'Warsaw',
                  'Dublin', 'Toronto', 'Sydney', 'London', 'Leeds', 'Lyon', 'Munich',
                  'Porto', 'Milan'])[1 + (i * 17) % 40] AS city,
           (ARRAY['US', 'US', 'US', 'GB', 'DE', 'FR', 'NL', 'ES', 'IT', 'SE', 'PL', 'IE', 'CA',
                  'AU'])[1 + (i * 5) % 14] AS cc
    FROM generate_series(1::bigint, :users) AS i
) AS g;

-- orders: 3N, a user's order ships to an address like theirs; 30% have a note
INSERT INTO orders
SELECT o,
       u, 1 + (o * 31) % 1000, 1 + o % 4, 199 + (o * 7919) % 50000,
       (ARRAY['paid', 'shipped', 'delivered', 'delivered', 'delivered', 'refunded',
              'cancelled'])[1 + o % 7],
       (10 + (o * 37) % 9890) || ' '
           || (ARRAY['Main St', 'Oak Ave', 'Pine Rd', 'Maple Dr', 'Cedar Ln', 'Elm St',
                     'Washington Blvd', 'Lake View', 'Hill Crest', 'Park Ave', 'River Rd',
                     'Sunset Blvd', 'High St', 'Station Rd', 'Church Lane'])[1 + (o * 11) % 15],
       (ARRAY['Springfield', 'Riverside', 'Franklin', 'Greenville', 'Bristol', 'Clinton',
              'Fairview', 'Salem', 'Madison', 'Georgetown', 'Berlin', 'Paris', 'Madrid',
              'Rome', 'London', 'Leeds', 'Lyon', 'Munich'])[1 + (o * 17) % 18],
       lpad(((o * 104729) % 99999)::text, 5, '0'),
       CASE o % 10
           WHEN 0 THEN 'Leave the parcel with the neighbour at number '
               || (1 + o % 40) || ' if nobody answers.'
           WHEN 3 THEN 'Please call ' || '+1 ' || (200 + (u * 13) % 799) || '-555-'
               || lpad(((u * 7919) % 10000)::text, 4, '0') || ' on arrival, the bell is broken.'
           WHEN 6 THEN 'Gift - send the invoice to billing.' || u || '@example.com, not to me.'
       END,
       timestamptz '2019-01-01 00:00:00+00' + o * interval '31 seconds'
FROM (SELECT o, 1 + (o * 7919) % :users AS u FROM generate_series(1::bigint, 3 * :users) AS o) AS g;

-- comments: 2N, reviews; 20% quote the author's email, 10% a phone number
INSERT INTO comments
SELECT c, u.id, 1 + (c * 13) % 1000, 1 + c % 5,
       CASE c % 10
           WHEN 0 THEN 'Arrived broken, the box was crushed. Please get in touch at '
               || u.email || ' so we can sort out a replacement for order ' || (c * 3) || '.'
           WHEN 5 THEN 'Questions about sizing? Write to me (' || u.email
               || ') - happy to compare with the older model.'
           WHEN 7 THEN 'Support never called back. My number is ' || u.phone
               || ', I am home in the evenings. Two stars until it is fixed.'
           ELSE (ARRAY['Great quality for the price, would buy again. Shipping took a bit '
                       'longer than promised but the packaging was fine.',
                       'Exactly as described. The colour is slightly darker than on the '
                       'pictures, which I actually prefer.',
                       'Did the job. Not the sturdiest thing I own, but for everyday use it '
                       'is perfectly fine and the seller was friendly.',
                       'Fifth one I have ordered; they last about a year of daily use. '
                       'Recommended to anyone who needs something simple.',
                       'Meh. It works, but the stitching came loose after two weeks and the '
                       'return process was confusing.'])[1 + (c * 7) % 5]
               || ' (' || (1 + c % 5) || '/5)'
       END,
       timestamptz '2019-02-01 00:00:00+00' + c * interval '47 seconds'
FROM generate_series(1::bigint, 2 * :users) AS c
JOIN users AS u ON u.id = 1 + (c * 104729) % :users;

-- audit_log: 2N, the actor named by email value, as apps log it
INSERT INTO audit_log
SELECT a, u.email,
       (ARRAY['login', 'login', 'login', 'logout', 'password_change', 'order.create',
              'order.cancel', 'profile.update', 'export.request'])[1 + a % 9],
       ('10.' || (a % 256) || '.' || ((a / 256) % 256) || '.' || (1 + (a * 7) % 254))::inet,
       (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
              'Chrome/124.0 Safari/537.36',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like '
              'Gecko) Version/17.4 Safari/605.1.15',
              'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 '
              '(KHTML, like Gecko) Mobile/15E148',
              'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
              'shop-android/5.2.1 (Pixel 8; Android 14)',
              'shop-ios/5.2.0 (iPhone15,2; iOS 17.4)'])[1 + (a * 3) % 6],
       timestamptz '2019-01-01 00:00:00+00' + a * interval '29 seconds'
FROM generate_series(1::bigint, 2 * :users) AS a
JOIN users AS u ON u.id = 1 + (a * 7919) % :users;

ALTER TABLE users ADD PRIMARY KEY (id);
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE users ADD FOREIGN KEY (plan_id) REFERENCES plans (id);
ALTER TABLE users ADD FOREIGN KEY (country) REFERENCES countries (code);
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE orders ADD FOREIGN KEY (product_id) REFERENCES products (id);
CREATE INDEX orders_user_id_idx ON orders (user_id);
ALTER TABLE comments ADD PRIMARY KEY (id);
ALTER TABLE comments ADD FOREIGN KEY (user_id) REFERENCES users (id);
CREATE INDEX comments_user_id_idx ON comments (user_id);
ALTER TABLE audit_log ADD PRIMARY KEY (id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor);
CREATE INDEX audit_log_at_idx ON audit_log (at);

VACUUM (FREEZE, ANALYZE);
