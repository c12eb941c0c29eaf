"""The Firehose processor: fetches referenced landing objects and packs them as bundle members."""
