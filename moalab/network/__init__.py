"""Networks (Dallinger's): subjects and stimuli as nodes, connected by a topology;
information passed along vectors by transmit and receive, in memory or in the lab."""
