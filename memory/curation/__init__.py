"""What changes or removes memories: edits and review queues, consolidation of extracted candidates, forgetting in every tier, the inspector's browsing."""
