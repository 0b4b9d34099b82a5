"""Built-in connectors, one module per source. Each registers under the entry-point group
``impact_miner.connectors`` exactly as a third-party connector would."""
