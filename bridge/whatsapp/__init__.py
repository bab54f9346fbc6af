"""The WhatsApp Cloud API edge."""
