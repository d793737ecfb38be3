# codegen/: streamc, the .stream compiler. (Placeholder until streamc lands.)
