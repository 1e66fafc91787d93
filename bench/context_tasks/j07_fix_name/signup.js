import { isEmail } from './validate.js';

// fix: it crashes: call the validation function validate.js exports
export function canSignUp(form) {
  return validateEmail(form.email) && form.password.length >= 8;
}
