"""The assessment planner (测评计划): checklists and inspections, sampling of test points,
rounds split among teams, the street network for routing, and post siting."""
