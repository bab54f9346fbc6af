"""The heart of Traza: conversations, routing, the event vocabulary and the ports the edges implement.

The core modules import only the standard library; ``bridge.whatsapp`` is the Cloud API edge.
"""
