"""From hw IR to files and tools: CIRCT export, testbench, simulators, synthesis."""
