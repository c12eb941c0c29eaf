"""The copier function: new Archive bundles get their SHA-256 and are staged in Distribution."""
