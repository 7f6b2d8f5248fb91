"""AnimeSphere data agent: scrapes the season's announcements and enriches them through the API."""
