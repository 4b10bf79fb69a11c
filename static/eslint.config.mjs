// ESLint (a devDependency: it is not shipped, see setup.py) holds the page scripts in js/ to
// the front end's rules: ES modules, no globals of our own on `window`, no function over 80
// lines. Run by tests/test_quality.py (`npx eslint js` here).
import js from "@eslint/js";
import globals from "globals";

const WINDOW_PROPERTY = "AssignmentExpression[left.type='MemberExpression']" +
  "[left.object.name=/^(window|globalThis|self)$/]";

export default [
  js.configs.recommended,
  {
    files: ["js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: {
        ...globals.browser,
        // the third-party libraries loaded as classic scripts before our modules
        L: "readonly", Pbf: "readonly", flatpickr: "readonly"
      }
    },
    rules: {
      "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }],
      "no-restricted-syntax": ["error", {
        selector: WINDOW_PROPERTY,
        message: "no globals of ours: export from a module instead of assigning to window"
      }],
      "no-restricted-globals": ["error", { name: "ccmap", message: "import from the modules" }],
      "no-implicit-globals": "error"
    }
  }
];
