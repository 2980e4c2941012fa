"""The simulated world: Gate panel, Bybit P2P, bank and mail, buyers, LLM.

An independent twin of the platforms: nothing here imports our clients, the
receipt parser or the verifier (only the receipt renderer), so a bug in a
client cannot hide behind the same bug in the sandbox.
"""
