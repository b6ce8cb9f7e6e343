/**
 * A FHIR Quantity that keeps the decimal text it was made from (issue 13: no side channels).
 */
import type { Quantity } from '@medplum/fhirtypes';

/**
 * A Quantity that carries the decimal text it was built from, so the serializer writes "125.0" as
 * 125.0 and not 125 (FHIR decimals keep their precision; JSON numbers cannot). The text sits in a
 * private field: JSON.stringify, validators and copies see a plain Quantity.
 */
export class PreciseQuantity implements Quantity {
  readonly #decimal: string;
  value: number;
  unit: string;
  system: string;
  code: string;

  /** Makes the Quantity from the exact decimal text and its UCUM unit. */
  constructor(decimal: string, unit: string, system: string, code: string) {
    this.#decimal = decimal;
    this.value = Number(decimal);
    this.unit = unit;
    this.system = system;
    this.code = code;
  }

  /** The decimal text, or undefined when `value` was changed after it was built (then the number is all there is). */
  get decimal(): string | undefined {
    return this.value === Number(this.#decimal) ? this.#decimal : undefined;
  }
}
