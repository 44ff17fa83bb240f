"""The attribution benchmark: every model over a million journeys beside ChannelAttribution."""
