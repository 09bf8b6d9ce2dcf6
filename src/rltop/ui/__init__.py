"""The Textual interface: renders store snapshots, sends messages; no data logic here."""
