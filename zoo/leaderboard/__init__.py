"""zoo.leaderboard."""
