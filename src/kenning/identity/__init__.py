"""Identity resolution: identifiers, the real-time graph and its rules, merge log, matching."""
