"""Importing other tools' training files into loratui configs (`loratui train import`); see ``importer``."""
