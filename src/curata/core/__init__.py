"""Pure core: domain types, ids and errors. Imports nothing from the rest of Curata."""
