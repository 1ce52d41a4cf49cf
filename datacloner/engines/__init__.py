"""Database engines: one package per engine behind the contract in
``base``. ``registry`` maps a URL's scheme to its engine and is the only place
that looks at which kind of database a URL names."""
