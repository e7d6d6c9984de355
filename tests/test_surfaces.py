"""The 2-D loss surfaces of descent.surfaces: gradients, minima, vectorization."""

import numpy as np
import pytest
import torch

from descent.gradcheck import check_gradient, rel_error
from descent.surfaces import SURFACES


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_gradient_matches_autograd_and_central_differences(name):
    surface = SURFACES[name]
    points = np.random.default_rng(3).uniform(-2.0, 2.0, size=(6, 2))
    for point in points:
        tensor = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        surface.loss(tensor).backward()  # the formulas are plain arithmetic: torch runs them
        assert rel_error(surface.grad(point), tensor.grad.numpy()) < 1e-12
        check_gradient(surface.loss, point, surface.grad(point), name=name)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_minimum_is_a_stationary_point_of_value_zero(name):
    surface = SURFACES[name]
    if surface.minimum is None:  # the saddle: stationary at the origin, unbounded below
        assert np.allclose(surface.grad(np.zeros(2)), 0.0)
        assert surface.loss(np.array([0.0, 1.0])) < surface.loss(np.zeros(2))
        return
    assert surface.loss(np.array(surface.minimum)) == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(surface.grad(np.array(surface.minimum)), 0.0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_vectorized_over_grids(name):
    surface = SURFACES[name]
    grid = np.random.default_rng(0).normal(size=(3, 4, 2))
    assert surface.loss(grid).shape == (3, 4)
    assert surface.grad(grid).shape == (3, 4, 2)
    assert np.allclose(surface.grad(grid)[1, 2], surface.grad(grid[1, 2]))
    x0, x1 = surface.xlim
    y0, y1 = surface.ylim
    assert x0 <= surface.start[0] <= x1 and y0 <= surface.start[1] <= y1
