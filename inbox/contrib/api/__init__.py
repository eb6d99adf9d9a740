"""What the JSON API (issue 12, ``inbox.contrib.drf``) shares with any other front end, without
Django REST Framework: seed 000's filter syntax over query parameters (:mod:`.params`)."""
