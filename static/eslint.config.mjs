// ESLint (a devDependency: it is not shipped, see setup.py) holds the page scripts in js/ to
// the front end's rules: ES modules, no globals of our own on `window`, no function over 80
// lines. Run by tests/test_quality.py (`npx eslint js` here).
import js from "@eslint/js";
import globals from "globals";

const GLOBAL = "/^(window|globalThis|self)$/";
const NO_GLOBALS = "no globals of ours: export from a module instead of putting it on window";

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
      "no-restricted-syntax": ["error",
        { selector: `AssignmentExpression[left.object.name=${GLOBAL}]`, message: NO_GLOBALS },
        { selector: `AssignmentExpression[left.object.object.name=${GLOBAL}]`,
          message: NO_GLOBALS },
        { selector: `MemberExpression[object.name=${GLOBAL}][property.name=/^ccmap/]`,
          message: "the page's modules import each other; nothing of ours is on window" }],
      "no-restricted-globals": ["error", { name: "ccmap", message: "import from the modules" }],
      "no-implicit-globals": "error"
    }
  },
  {
    // the offline app's service worker: a classic worker script (static/js/field-sw.js)
    files: ["js/field-sw.js"],
    languageOptions: { sourceType: "script", globals: { ...globals.serviceworker } }
  }
];
