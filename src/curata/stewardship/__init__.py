"""Who answers for a dataset and what a release must prove (#16): RACI per project and dataset,
release policies and their report, data cards, release signatures in the audit chain, and
notices to the Informed. Above the capabilities it reads (annotation, curation, export,
redteam, sourcing, versioning); below the workspace, which wires it into releases."""
