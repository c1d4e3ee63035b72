"""The Repo's internals: writes of records and changesets, bulk writes."""
