"""The network: graphs and their combination weights (``graph``, ``topology``), mixing over
live links (``mixing``), the network-level method and its references (``method``,
``references``), the distributed schemes (``diffusion``, ``consensus_dpf``,
``markov_chain_dpf``), faults and sharding over devices."""
