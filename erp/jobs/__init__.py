"""Jobs that keep the seller's data fresh: order sync, report import, image grab, schedule."""
