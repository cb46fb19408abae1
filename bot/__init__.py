"""How SellerDesk talks: Slack, the console, rendering, escalation, conversations, scheduling."""
