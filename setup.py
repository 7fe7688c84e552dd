"""scratchvae: autoencoders and VAEs written from scratch in NumPy (Numba on the CPU, CuPy on the GPU)."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
setup(
    name="scratchvae",
    version="0.1.0",
    description="Autoencoders and variational autoencoders with hand-written, gradient-checked "
                "forward and backward passes",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["scratchvae", "scratchvae.*", "kernels", "kernels.*"]),
    package_data={"kernels.cuda": ["*.cu"]},      # CUDA C sources, compiled by CuPy at first use
    install_requires=["numpy>=1.24", "numba>=0.58", "matplotlib>=3.6", "tqdm>=4.60"],
    extras_require={
        "gpu": ["cupy>=12"],
        # nvidia-cuda-nvrtc: the CUDA runtime compiler alone (no GPU needed), so the test
        # suite compile-checks every CUDA C kernel on machines without a GPU.
        "test": ["pytest>=7", "hypothesis>=6", "nvidia-cuda-nvrtc"],
        "bench": ["torch"],
        # data-parallel training and distributed evaluation (docs/distributed.md): mpi4py
        # and an MPI to run it on — the mpich wheel brings MPICH and its mpiexec
        "mpi": ["mpi4py>=3.1", "mpich"],
    },
    entry_points={"console_scripts": ["scratchvae=scratchvae.cli:main"]},
    classifiers=["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License",
                 "Topic :: Scientific/Engineering :: Artificial Intelligence"],
)
