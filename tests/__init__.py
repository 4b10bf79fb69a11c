"""ccmap's tests, laid out as the code is: tests/geo/<package>/, tests/server/, tests/browser/."""
