"""The personal-value detectors (emails, phone numbers, cards, IBANs, IP addresses
...) shared by scan, check, the ``scrub`` transformer and verify."""
