"""Logins: password rules and hashing, authentication with lockout, password changes and the
demo users; a user's own preferences (the UI language). (Users, units, roles and permissions
themselves are in geo.model.users.)"""
