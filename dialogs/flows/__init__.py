"""The conversations, one module each, with a Mermaid diagram beside each."""
