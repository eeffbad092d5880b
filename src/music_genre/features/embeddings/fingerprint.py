"""MSD_musicnn's fingerprint: musicnn's own trained graph's output on a fixed input, computed once with
TensorFlow and committed, so that converting the checkpoint needs no TensorFlow and still checks our numpy
network against musicnn's graph.

Derived with ``weights.reference_penultimate`` (the checkpoint's ``.meta`` graph, inference part, its
variables frozen to the checkpoint's values, run by TensorFlow 2.21 on the CPU) on
:func:`fingerprint_input`; ``tests/test_embeddings.py`` derives it again wherever TensorFlow is installed
(CI installs the ``embeddings`` extra) and compares it with the committed values.
"""

from __future__ import annotations

import base64

import numpy as np

from .musicnn import EMBEDDING_DIM, N_MELS, PATCH_FRAMES

# (2, 200) float32, little-endian, base64: the 'penultimate' tensor
# (model/batch_normalization_10/batchnorm/add_1) for fingerprint_input().
FINGERPRINT_B64 = (
    "gm01vrT9xEDD1JG+djLoP+DqiUDvnz9AvHK5PvJ6JT+Sap29NPNqQKV5IkCUaow9HmyYP4AnKUDN0rG++tUeQLQIar6qeCk/"
    "RfqeQCVjsr4I/Fi+fkYVvzxFpL6tl11AwIaRPjFUSL+k/Qo/9EUgvjFdy74yhHw/bvHqvv5UdD/ionq/Px6jQK3ftUBC76k/"
    "KIOyvuIXnb6ZiHw/J2Q8vo81C74KCKVAz58IvlIb1kBzrJm+ONh0vrYN+b0i5ZG+v9SCvkMNxr64z6VAdI09vkAMdr7RTdM/"
    "J8aCvoAeQb8jzJW+/lW7vnHIZj+eBJ2+AuN/vj/gm776Ysi+yM6uP0jfl76MTWq+vWECQDt4C75UYG2+qPYrP/o9bb9QqYq+"
    "9q2mvlinBUDB4MC+t2BlQILiN78QYVk/XABgvmxqcb4In8w/GI9evuA/JkDaUZ1AhT4uv0mZNkDnAHy+HsZGP0UYrb70u4lA"
    "9s9xQCyBJ0CcNRO+9EHTvrodKj4nOqu+lbo3v5Vh6r4QRPi9/qOCvhmNtL5PlLBA/Uu4QOdYnL6WQoG9xI51vucDBEDx+2JA"
    "9Dh2vshPX0A0+dG+uqCOPnpc2L7SlMFARiGKvk/cpkC94Jq+oIwGQf7Xyr6lgEdAFjMhvkIDDr/UIH9Ayfzmvs4mgECUTVS/"
    "EMy5QH71sUCiTlxAwzQ+v0CpyL6yj/a+ZP7avvDq171FvWa/fg3Svo7kXUCBAxq/oFWIvs0B473gyfq+WEQ3QMl+HkB0qbVA"
    "OaEqv1AxZkCAIPy/t5y2QBz4N764xaG+BaCPvkRPF0Bg9Yi+TYUhv7OoYEDY/Z6+MztyP3o3dr6Xc8o+jMShQBEygUCVTd2+"
    "mAVJvrQh2j/nFxlAKrWZP9JOwD8Laj+/0LY7vmaUgUB27D6/pI81QAo/er6EwLS+UwiDPp4obL+cvZy9bXHcPmBNYb8V5ZE/"
    "UPGHQFRQTb3o23w9+p7FQJ5I5kBVGpe/mHatQPl25b46Tji+rs0Zv+54qz6pupq+KlVvvp6oQL6jhWw/nCMLPhD+Fr0nt2FA"
    "GYWFvtY7lr6CbTW+p395QMPUkb6xL48/0q6JQG2fTUCXXoo/7ArqvpJqnb0AXp4/Mi8tQLzUub48YIE/x9qfP83Ssb54vX1A"
    "tAhqvh62QD/7XXxAJWOyvgj8WL5+RhW/PEWkvkgNdEDAhpE+MVRIv6T9Cj/0RSC+MV3LvmJQH0Bu8eq+BBArP+Kier/85aFA"
    "kguTQP1rJT8og7K+4hedvq2mUD+pl4u9jzULvlFthUBnXpC+lp3QQHOsmb442HS+tg35vSLlkb6/1IK+Qw3Gviy7tECWFmA+"
    "QAx2vsgxmj/7Ot4+ccqcviPMlb7+Vbu+tI2eP54Enb4C43++P+CbvvpiyL7Pax1ASN+XvoxNar4s5y0/O3gLvlRgbb6Ksws/"
    "+j1tv1Cpir72raa+aMnvP8HgwL4Oz1hAguI3v5pgX75cAGC+bGpxvmL5X0AYj16+axwSQP65oUCFPi6/riuAQOcAfL4Wy9E/"
    "RRitvvw8kkAs1F5AtyZRQJw1E770QdO++F8qP4Af5LyVuje/lWHqvhBE+L3+o4K+GY20vuP0P0BfSqpA51icvpZCgb3EjnW+"
    "FivSvuS8Q0D0OHa+vR04QDT50b66oI4+elzYviLDs0BGIYq+UtZiQL3gmr6TDP1A/tfKvpUvE0AWMyG+LHNDv6e5nUDJ/Oa+"
    "Pl93QJRNVL/R2aRAVnpwQArXdUDDND6/QKnIvrKP9r5k/tq+8OrXvUW9Zr9+DdK+gaXoP4EDGr+gVYi+LPdovjReVz4A0FlA"
    "KgKEP0oe0kA5oSq/W5oZQPhujL9unIhAHPg3vrjFob4FoI++fNTOP2D1iL5NhSG/N1uwP9j9nr5sQSO+ejd2vgC2gLsusYxA"
    "mk1EQJVN3b5k0Kc+0vO8PzA8nz/Z7gtADOcBPwtqP7/Qtju+VCmCQHbsPr/65CpACj96voTAtL5TCIM+nihsv5y9nL0QrsE9"
    "YE1hv5LvcT8upXVAqgqOPhh5gL5ex6NAhj6rQFUal7/mJL9A+XblvjpOOL6uzRm/7nirPqm6mr4qVW++nqhAvrhZEkD0/oe+"
    "8LU9vuo55T9c1y4+1juWvg=="
)


def fingerprint_input() -> np.ndarray:
    """(2, 187, 96) float32 log-mel-like values in [0, 3], from a formula (no random generator whose
    stream could change between numpy versions)."""
    patch, frame, mel = np.meshgrid(
        np.arange(2), np.arange(PATCH_FRAMES), np.arange(N_MELS), indexing="ij"
    )
    phase = 0.37 * frame * (patch + 1) + 0.23 * mel + 0.05 * frame * mel / N_MELS
    return (1.5 + 1.5 * np.sin(phase)).astype(np.float32)


def fingerprint() -> np.ndarray:
    """The committed output of musicnn's graph on :func:`fingerprint_input`, (2, 200) float32."""
    values = np.frombuffer(base64.b64decode(FINGERPRINT_B64), dtype="<f4")
    return values.reshape(2, EMBEDDING_DIM).astype(np.float32)


def fingerprint_difference(network) -> float:
    """Largest absolute difference between ``network.penultimate`` and the fingerprint."""
    return float(np.max(np.abs(network.penultimate(fingerprint_input()) - fingerprint())))
